"""EO-1: Qwen2.5-VL decoder with autoregressive subtask text and flow-matching action chunks.

Modules: ``configuration_eo1`` (:class:`EO1Config`), ``tokenizer`` (Qwen BPE, vocabulary map),
``vision`` (image preprocessing, ViT metadata), ``processing_eo1`` (prompt layout, positions,
:class:`EO1Processor`), ``attention`` (masks, attention ops), ``backbone`` (Qwen2.5-VL build/load),
``modeling_eo1`` (:class:`EO1Policy`, registered as model type ``"eo1"``).
"""

from vla_lego.models.eo1.configuration_eo1 import MODEL_TYPE, PRESETS, EO1Config
from vla_lego.models.eo1.modeling_eo1 import DenoiseContext, EO1Policy
from vla_lego.models.eo1.processing_eo1 import (
    EO1Inputs,
    EO1Processor,
    prefix_position_ids,
    sequential_position_ids,
)
from vla_lego.models.eo1.tokenizer import VocabMap, build_qwen_tokenizer
from vla_lego.models.eo1.vision import VisionMeta, preprocess_images, vision_metadata

__all__ = [
    "MODEL_TYPE",
    "PRESETS",
    "DenoiseContext",
    "EO1Config",
    "EO1Inputs",
    "EO1Policy",
    "EO1Processor",
    "VisionMeta",
    "VocabMap",
    "build_qwen_tokenizer",
    "prefix_position_ids",
    "preprocess_images",
    "sequential_position_ids",
    "vision_metadata",
]
