"""The parity gate: exported graphs must reproduce PyTorch on fresh random inputs.

For each trial a random observation (alternating 2 and 1 camera views, instruction lengths that
differ from the one the graphs were traced with) and random noise go through the model's own
``sample_normalized`` and through the exported graphs driven by the shared runtime host
loop. The maximum absolute difference of the action chunks (robot units) must stay below the
precision's tolerance and the decoded subtask texts must be equal, or :class:`ParityError`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from vla_lego.export.inputs import example_inputs
from vla_lego.inference.engine import ChunkPolicy
from vla_lego.inference.manifest import Manifest
from vla_lego.inference.ort_backend import load_ort_policy
from vla_lego.inference.trt_backend import load_trt_policy
from vla_lego.models.base import CachedPolicyModel

# Largest max abs error (robot units) of the action chunk an export of each precision may have.
PARITY_TOLERANCE = {"fp32": 1e-4, "fp16": 5e-2, "bf16": 1e-1}


class ParityError(RuntimeError):
    """The exported graphs do not reproduce PyTorch within the stated tolerance."""


def _runtime(tmp: Path, engines: bool, decode_text: bool) -> ChunkPolicy:
    if engines:
        return load_trt_policy(tmp, device="cuda", decode_text=decode_text)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        return load_ort_policy(tmp, device=device, decode_text=decode_text)
    except RuntimeError:  # no CUDA execution provider: check on the CPU
        return load_ort_policy(tmp, device="cpu", decode_text=decode_text)


def _trial(
    policy: CachedPolicyModel, runtime: ChunkPolicy, k: int, seed: int, decode_text: bool
) -> dict[str, Any]:
    cfg = policy.config
    views = 2 if (k % 2 == 0 and cfg.max_views >= 2) else 1
    words = 3 + 5 * k  # never the traced length (6)
    inputs = example_inputs(policy, views, words, seed + 1000 + k)
    noise = np.random.default_rng(seed + 2000 + k).standard_normal(
        (1, cfg.action_horizon, cfg.max_action_dim), dtype=np.float32
    )
    ref_x, ref_texts, _, _ = policy.sample_normalized(
        inputs, torch.from_numpy(noise), decode_text=decode_text
    )
    ref = policy.processor.postprocess_actions(ref_x)[0]
    got = runtime.sample(inputs, noise)
    out = policy.processor.postprocess_actions(got.actions)[0]
    return {
        "views": views,
        "prefix_len": int(inputs.input_ids.shape[1]),
        "max_abs_error": float(np.max(np.abs(out - ref))),
        "max_abs_error_normalized": float(np.max(np.abs(got.actions - ref_x.numpy()))),
        "text_equal": got.text == ref_texts[0],
    }


def parity_gate(
    policy: CachedPolicyModel, tmp: Path, man: Manifest, options: Any
) -> dict[str, Any]:
    """Run the gate on the export staged in ``tmp``; return the numbers for the manifest.

    Raises:
        ParityError: a trial exceeds the tolerance or decodes another text.
    """
    engines = options.fmt == "tensorrt"
    precision = options.precision if engines else "fp32"
    tol = PARITY_TOLERANCE[precision]
    # Reduced precision may flip a near-tie of greedy decoding, after which the action block sees
    # another text: those engines are gated on the actions alone.
    text = options.decode_text and precision == "fp32"
    runtime = _runtime(tmp, engines, text)
    trials = [_trial(policy, runtime, k, options.seed, text) for k in range(options.parity_trials)]
    worst = max(t["max_abs_error"] for t in trials)
    result = {
        "backend": runtime.name,
        "precision": precision,
        "text_checked": text,
        "tolerance": tol,
        "max_abs_error": worst,
        "trials": trials,
    }
    bad_text = [t for t in trials if not t["text_equal"]]
    if worst >= tol or bad_text:
        raise ParityError(
            f"exported graphs ({result['backend']}, {result['precision']}) do not match PyTorch: "
            f"max abs error {worst:.3g} on the action chunk (tolerance {tol:g}); "
            f"text differs in {len(bad_text)} of {len(trials)} trials; per trial: {trials}"
        )
    return result


__all__ = ["PARITY_TOLERANCE", "ParityError", "parity_gate"]
