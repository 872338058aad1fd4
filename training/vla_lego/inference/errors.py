"""Errors raised while loading or running a policy; all are ``ValueError``/``RuntimeError``."""

from __future__ import annotations


class UnknownBackendError(ValueError):
    """The requested backend name is not registered."""


class BackendUnavailableError(RuntimeError):
    """The backend exists but a library or device it needs is missing (message says what)."""


class ManifestError(ValueError):
    """An export directory's manifest does not match its graphs, or a file is missing/tampered."""


class ModelVersionError(ValueError):
    """A checkpoint or export was made by another (incompatible) model version."""


__all__ = ["BackendUnavailableError", "ManifestError", "ModelVersionError", "UnknownBackendError"]
