"""Wall-clock timing of inference stages, reported in ``ActionChunk.timings`` (milliseconds)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class StageTimer:
    """Accumulates milliseconds per named stage.

    A stage entered several times (e.g. ``denoise_step`` inside the Euler loop) accumulates; the
    number of entries is kept in :attr:`counts`. ``sync`` is called before each clock read so that
    asynchronous devices (CUDA) are measured correctly; it defaults to a no-op.

    Args:
        sync: Called before reading the clock (e.g. ``torch.cuda.synchronize``).
    """

    def __init__(self, sync: Callable[[], None] | None = None) -> None:
        self._sync = sync or (lambda: None)
        self.ms: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self._start = time.perf_counter()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the body of a ``with`` block under ``name``."""
        self._sync()
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self._sync()
            dt = (time.perf_counter() - t0) * 1e3
            self.ms[name] = self.ms.get(name, 0.0) + dt
            self.counts[name] = self.counts.get(name, 0) + 1

    def finish(self) -> dict[str, float]:
        """Stage times plus ``total`` (ms since construction)."""
        self._sync()
        out = dict(self.ms)
        out["total"] = (time.perf_counter() - self._start) * 1e3
        return out


__all__ = ["StageTimer"]
