"""The host side of inference, shared by every backend.

:class:`ChunkPolicy` implements :class:`~vla_lego.inference.types.Policy`: it turns an
:class:`Observation` into model tensors with the model's own :class:`EO1Processor` (image resize /
normalise, tokenisation, state normalisation, M-RoPE positions), runs the backend's prefix graph
once, decodes the subtask text greedily with the decode-step graph, integrates the action flow with
N Euler steps around the denoise-step graph, and maps the result back to robot units
(un-normalise, un-pad to the robot layout). Backends only provide :class:`StepGraphs`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from PIL import Image

from vla_lego.inference.denoise import euler_sample, inpaint
from vla_lego.inference.graphs import GraphRunner
from vla_lego.inference.timing import StageTimer
from vla_lego.inference.types import ActionChunk, ActionGuidance, Observation
from vla_lego.models.base import TextProcessor

PREFIX_FEEDS = ("input_ids", "pixel_values", "state", "state_mask", "prefix_valid", "position_ids")


class StepGraphs(Protocol):
    """The three model pieces a backend runs; caches (``kv``) are backend-native values."""

    def prefix(self, feeds: dict[str, np.ndarray]) -> tuple[np.ndarray, list[Any]]:
        """Prefix feeds (see :data:`PREFIX_FEEDS`) -> (first text logits ``[B, vocab]``, kv)."""
        ...

    def decode(
        self, kv: list[Any], kv_valid: np.ndarray, token: np.ndarray, pos: np.ndarray
    ) -> tuple[np.ndarray, list[Any]]:
        """One text token ``[B, 1]`` at positions ``[3, B, 1]`` -> (logits, kv one longer)."""
        ...

    def prepare_denoise(self, kv: list[Any], kv_valid: np.ndarray, pos: np.ndarray) -> Any:
        """What the N denoise steps of one chunk share (cache, validity ``[B, L]``, positions
        ``[3, B, H]``), made ready once in the backend's native form."""
        ...

    def denoise(self, ctx: Any, x: np.ndarray, t: float) -> np.ndarray:
        """Velocity ``[B, H, D]`` of the noisy action block ``x`` at time ``t``."""
        ...

    def sync(self) -> None:
        """Wait for queued device work (for honest stage timings)."""
        ...


def observation_to_batch(
    obs: Observation, image_size: int | tuple[int, int], min_side: int = 28
) -> dict[str, Any]:
    """One :class:`Observation` -> a batch of one in the ``vla_lego.data`` format.

    Views are taken in the dict's order. Views of different sizes are first resized to the model's
    ``image_size`` (side, or ``(height, width)``; the processor resizes equal-sized views itself,
    with the same filter).

    Raises:
        ValueError: no images, an image that is not ``uint8 (H, W, 3)``.
    """
    if not obs.images:
        raise ValueError("observation has no camera images; expected at least one uint8 HxWx3")
    views = []
    for name, im in obs.images.items():
        a = np.asarray(im)
        if a.ndim != 3 or a.shape[-1] != 3 or a.dtype != np.uint8:
            raise ValueError(f"image {name!r}: expected uint8 (H, W, 3), got {a.dtype} {a.shape}")
        if min(a.shape[:2]) < min_side:
            raise ValueError(f"image {name!r}: expected sides >= {min_side} px, got {a.shape[:2]}")
        views.append(a)
    if len({v.shape for v in views}) > 1:
        h, w = (image_size, image_size) if isinstance(image_size, int) else image_size
        size = (w, h)  # PIL's order
        views = [
            np.asarray(Image.fromarray(v).resize(size, Image.Resampling.BICUBIC)) for v in views
        ]
    state = np.asarray(obs.state, dtype=np.float64).reshape(1, -1)
    return {"images": np.stack(views)[None], "state": state, "instruction": [obs.instruction]}


def inputs_to_feeds(inputs: Any) -> dict[str, np.ndarray]:
    """Prefix graph feeds (numpy) from processed inputs."""
    return {k: getattr(inputs, k).detach().cpu().numpy() for k in PREFIX_FEEDS}


def sequential_positions(start: int, length: int) -> np.ndarray:
    """Positions ``int64 [3, 1, length]`` continuing 1-D from ``start`` (text and action tokens)."""
    pos = start + np.arange(length, dtype=np.int64)
    return np.ascontiguousarray(np.broadcast_to(pos, (3, 1, length)))


def _stamp_key(timestamp: float) -> int:
    """The observation stamp in whole milliseconds, the key of its noise.

    A float64 epoch stamp (~1.8e9 s) resolves 0.24 µs, and the node (``sec + nanosec * 1e-9``)
    and a bag replay may compute it one ulp apart: keyed by µs, one stamp in four or five landed
    on the other side of a rounding boundary and got other noise. At 1 ms that happens for about
    one stamp in 4,000; two observations within 1 ms of each other are told apart by ``repeat``.
    """
    return round(float(timestamp) * 1e3) % (1 << 63)


def observation_noise(
    seed: int, timestamp: float, repeat: int, shape: tuple[int, ...]
) -> np.ndarray:
    """The noise :class:`ChunkPolicy` samples an observation stamped ``timestamp`` from (its
    ``repeat``-th prediction of that stamp since a reset): standard normal, float32."""
    rng = np.random.default_rng([int(seed), _stamp_key(timestamp), int(repeat)])
    return rng.standard_normal(shape, dtype=np.float32)


@dataclass
class SampleResult:
    """Model-space result of one prediction (before un-normalising)."""

    actions: np.ndarray  # float32 [1, H, max_action_dim], normalised
    text_ids: list[int]
    text: str


class ChunkPolicy:
    """A :class:`Policy` over any backend's :class:`StepGraphs`.

    Args:
        graphs: The backend.
        processor: The model's processor (from the checkpoint or export directory).
        dt: Seconds between actions of a chunk.
        seed: Seed of the noise; :meth:`reset` rewinds it. A chunk's noise is a function of the
            seed, the observation's timestamp and how often that timestamp was seen since the
            last reset (not of how many chunks came before), so a replay that cannot reproduce
            one chunk (its frame is not in the bag) still reproduces every other.
        decode_text: Decode the subtask text before the actions.
        backend: Name reported in :attr:`name`.
    """

    def __init__(
        self,
        graphs: StepGraphs,
        processor: TextProcessor,
        dt: float,
        seed: int = 0,
        decode_text: bool = True,
        backend: str = "",
    ) -> None:
        self.graphs = graphs
        self.processor = processor
        self.config = processor.config
        self.dt = float(dt)
        self.seed = int(seed)
        # compat="eo1" checkpoints have no subtask text to decode
        has_text = bool(getattr(self.config, "has_subtask_text", True))
        self.decode_text = bool(decode_text) and has_text
        self.name = backend
        self.rng = np.random.default_rng(self.seed)
        self._last_stamp: int | None = None
        self._repeats = 0

    # Follows Observation.guidance (real-time chunking) in the shared host loop, on every backend.
    supports_guidance = True

    def reset(self) -> None:
        self.rng = np.random.default_rng(self.seed)
        self._last_stamp, self._repeats = None, 0

    def draw_noise(self, timestamp: float | None = None) -> np.ndarray:
        """A standard-normal noise block ``float32 [1, H, max_action_dim]``.

        Args:
            timestamp: Observation time: the noise is drawn from ``(seed, timestamp in ms,
                repeat)``; None draws the next block of the seeded sequence.
        """
        shape = (1, self.config.action_horizon, self.config.max_action_dim)
        if timestamp is None:
            return self.rng.standard_normal(shape, dtype=np.float32)
        stamp = _stamp_key(timestamp)
        self._repeats = self._repeats + 1 if stamp == self._last_stamp else 0
        self._last_stamp = stamp
        return observation_noise(self.seed, timestamp, self._repeats, shape)

    def predict(self, observation: Observation) -> ActionChunk:
        timer = StageTimer(self.graphs.sync)
        with timer.stage("preprocess"):
            cfg = self.config
            batch = observation_to_batch(
                observation,
                getattr(cfg, "view_hw", cfg.image_size),
                cfg.patch_size * cfg.spatial_merge_size,
            )
            inputs = self.processor(batch)
        noise = self.draw_noise(observation.timestamp)
        res = self.sample(inputs, noise, timer, observation.guidance)
        with timer.stage("postprocess"):
            actions = self.processor.postprocess_actions(res.actions)[0].astype(np.float32)
        return ActionChunk(
            actions=actions,
            dt=self.dt,
            subtask_text=res.text,
            timings=timer.finish(),
            observation_time=observation.timestamp,
        )

    def guidance_target(self, guidance: ActionGuidance) -> tuple[np.ndarray, np.ndarray]:
        """Guided actions in model units ``(1, K, max_action_dim)`` and their weights ``(K,)``.

        Raises:
            ValueError: the guidance is wider than the robot layout or longer than the horizon.
        """
        proc: Any = self.processor
        actions = guidance.actions
        if actions.shape[0] > self.config.action_horizon:
            raise ValueError(
                f"guidance has {actions.shape[0]} steps, the policy's horizon is "
                f"{self.config.action_horizon}"
            )
        target = proc.layout.pad(proc.normalizer.normalize(actions, "actions"))[None]
        return target.astype(np.float32), guidance.weights.astype(np.float32)

    def sample(
        self,
        inputs: Any,
        noise: np.ndarray,
        timer: StageTimer | None = None,
        guidance: ActionGuidance | None = None,
    ) -> SampleResult:
        """Prefix, optional text, Euler loop for processed ``inputs`` (batch of one).

        With ``guidance`` the loop inpaints the guided steps (:func:`.denoise.inpaint`).
        """
        timer = timer or StageTimer(self.graphs.sync)
        if inputs.batch_size != 1:
            raise ValueError(
                f"ChunkPolicy predicts one observation at a time, got {inputs.batch_size}"
            )
        with timer.stage("prefix"):
            logits, kv = self.graphs.prefix(inputs_to_feeds(inputs))
        kv_valid = inputs.prefix_valid.numpy()
        next_pos = int(inputs.next_pos[0])
        ids: list[int] = []
        if self.decode_text:
            with timer.stage("decode"):
                kv, kv_valid, ids = self._generate(kv, kv_valid, logits, next_pos)
        act_pos = sequential_positions(next_pos + len(ids), self.config.action_horizon)
        graphs = self.graphs
        with timer.stage("denoise"):
            ctx = graphs.prepare_denoise(kv, kv_valid, act_pos)
            noise = np.asarray(noise, np.float32)
            guide = None
            if guidance is not None:
                target, weights = self.guidance_target(guidance)
                guide = lambda x, t: inpaint(x, t, noise, target, weights)  # noqa: E731
            x0 = euler_sample(
                lambda x, t: graphs.denoise(ctx, x, t),
                noise,
                self.config.num_denoise_steps,
                guide,
            )
        return SampleResult(x0, ids, self.processor.decode_text(ids))

    def _generate(
        self, kv: list[Any], kv_valid: np.ndarray, logits: np.ndarray, next_pos: int
    ) -> tuple[list[Any], np.ndarray, list[int]]:
        """Greedy subtask decoding, bounded by ``max_subtask_tokens`` (as the model does)."""
        end = self.processor.subtask_end_id
        ids: list[int] = []
        for k in range(self.config.max_subtask_tokens):
            tok = int(np.argmax(logits[0]))
            token = np.array([[tok]], dtype=np.int64)
            logits, kv = self.graphs.decode(
                kv, kv_valid, token, sequential_positions(next_pos + k, 1)
            )
            kv_valid = np.concatenate([kv_valid, np.ones((1, 1), dtype=bool)], axis=1)
            ids.append(tok)
            if tok == end:
                break
        return kv, kv_valid, ids


class ExportedStepGraphs:
    """:class:`StepGraphs` over exported graphs (ONNX Runtime sessions or TensorRT engines).

    Args:
        runners: ``prefix``, ``denoise_step`` and (for text) ``decode_step`` graph runners.
        num_layers: Decoder layers (number of key/value pairs).
        sync: Device synchronisation for timings.
    """

    def __init__(self, runners: dict[str, GraphRunner], num_layers: int, sync: Any = None) -> None:
        self.runners = runners
        self.kv_in = [f"{k}_{i}" for i in range(num_layers) for k in ("key", "value")]
        self.kv_out = [f"present_{n}" for n in self.kv_in]
        self._sync = sync

    def sync(self) -> None:
        if self._sync is not None:
            self._sync()

    def prefix(self, feeds: dict[str, np.ndarray]) -> tuple[np.ndarray, list[Any]]:
        r = self.runners["prefix"]
        out = r.run(feeds)
        return r.to_host(out["logits"]), [out[n] for n in self.kv_out]

    def decode(
        self, kv: list[Any], kv_valid: np.ndarray, token: np.ndarray, pos: np.ndarray
    ) -> tuple[np.ndarray, list[Any]]:
        if "decode_step" not in self.runners:
            raise ValueError("this export has no decode_step graph; load with decode_text=False")
        r = self.runners["decode_step"]
        feeds = {"token_ids": token, "position_ids": pos, "kv_valid": kv_valid}
        out = r.run({**feeds, **dict(zip(self.kv_in, kv))})
        return r.to_host(out["logits"]), [out[n] for n in self.kv_out]

    def prepare_denoise(
        self, kv: list[Any], kv_valid: np.ndarray, pos: np.ndarray
    ) -> dict[str, Any]:
        """The step feeds that stay fixed over a chunk, converted to native values once."""
        r = self.runners["denoise_step"]
        fixed = {"position_ids": r.to_native(pos), "kv_valid": r.to_native(kv_valid)}
        return {**fixed, **dict(zip(self.kv_in, kv))}

    def denoise(self, ctx: dict[str, Any], x: np.ndarray, t: float) -> np.ndarray:
        r = self.runners["denoise_step"]
        tt = np.full((x.shape[0],), t, dtype=np.float32)
        out = r.run({**ctx, "x_t": x.astype(np.float32), "t": tt})
        return r.to_host(out["velocity"])


__all__ = [
    "PREFIX_FEEDS",
    "ChunkPolicy",
    "ExportedStepGraphs",
    "SampleResult",
    "StepGraphs",
    "inputs_to_feeds",
    "observation_noise",
    "observation_to_batch",
    "sequential_positions",
]
