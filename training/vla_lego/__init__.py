"""VLA-LEGO: an EO-1 style vision-language-action policy for bimanual LEGO assembly on the H1."""

__version__ = "0.1.0"

__all__ = ["__version__"]
