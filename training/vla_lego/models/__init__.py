"""Policy models. ``vla_lego.models.eo1`` is the EO-1 VLA; ``flow_matching`` and
``normalization`` hold the stateless maths and the paired pre/post-processing steps."""

from vla_lego.models.eo1 import EO1Config, EO1Inputs, EO1Policy, EO1Processor

__all__ = ["EO1Config", "EO1Inputs", "EO1Policy", "EO1Processor"]
