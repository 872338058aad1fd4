"""EO-1: Qwen2.5-VL decoder with autoregressive subtask text and flow-matching action chunks."""

from vla_lego.models.eo1.configuration_eo1 import PRESETS, EO1Config
from vla_lego.models.eo1.modeling_eo1 import EO1Policy
from vla_lego.models.eo1.processing_eo1 import EO1Inputs, EO1Processor, build_qwen_tokenizer

__all__ = ["PRESETS", "EO1Config", "EO1Inputs", "EO1Policy", "EO1Processor", "build_qwen_tokenizer"]
