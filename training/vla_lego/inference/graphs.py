"""Graph runners: one exported graph (ONNX Runtime session or TensorRT engine) behind one API.

``run(feeds) -> outputs`` takes and returns backend-native values (``OrtValue`` / CUDA tensors),
so the KV cache produced by the prefix graph stays where it was computed (GPU memory on CUDA)
across the denoising steps; ``to_native`` / ``to_host`` move the small host-side arrays
(noisy actions, velocities, logits) in and out.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from vla_lego.inference.errors import BackendUnavailableError
from vla_lego.inference.trt_support import require_tensorrt


class GraphRunner(Protocol):
    """What the exported-graph engine needs from a backend."""

    input_names: list[str]
    output_names: list[str]

    def run(self, feeds: dict[str, Any]) -> dict[str, Any]:
        """Run with native (or numpy) inputs; return native outputs by name."""
        ...

    def to_native(self, array: np.ndarray) -> Any:
        """Host array -> value accepted by :meth:`run`."""
        ...

    def to_host(self, value: Any) -> np.ndarray:
        """Native value -> host numpy array."""
        ...


def _device_id(device: str) -> int:
    return int(device.split(":", 1)[1]) if ":" in device else 0


SPIN_MODES = ("run", "always", "never")


class OrtGraph:
    """One ONNX graph in an ``onnxruntime.InferenceSession`` (CUDA EP on ``cuda``, else CPU).

    Args:
        path: ``.onnx`` file.
        device: ``cpu`` or ``cuda[:N]``; ``cuda`` without the CUDA execution provider raises.
        threads: Intra-op threads (default: ``$VLA_ORT_THREADS`` or ONNX Runtime's choice).
        spin: When idle intra-op threads busy-wait: ``run`` (only while a run is active; the
            default), ``always`` (ONNX Runtime's default: also between runs) or ``never``.
            Default ``$VLA_ORT_SPIN`` or ``run``.
    """

    def __init__(
        self,
        path: Path,
        device: str = "cpu",
        threads: int | None = None,
        spin: str | None = None,
    ) -> None:
        import onnxruntime as ort

        self._ort = ort
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        threads = threads or int(os.environ.get("VLA_ORT_THREADS", "0"))
        if threads:
            opts.intra_op_num_threads = threads
        spin = spin or os.environ.get("VLA_ORT_SPIN", "run")
        if spin not in SPIN_MODES:
            raise ValueError(f"ONNX Runtime spin mode must be one of {SPIN_MODES}, got {spin!r}")
        # ORT's idle intra-op threads busy-wait by default, also after Run() returns: with one
        # session per graph, the prefix session's spinning threads then steal the cores from the
        # denoise steps (base chunk 110-140 ms instead of ~75 on 2 cores), and on the robot from
        # the ROS executor. "run" spins only while a Run() is active (fast op hand-offs).
        if spin == "never":
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        elif spin == "run":
            opts.add_session_config_entry("session.force_spinning_stop", "1")
        self.device_type, self.device_id = "cpu", 0
        providers: list[Any] = ["CPUExecutionProvider"]
        if device.startswith("cuda"):
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise BackendUnavailableError(
                    "device 'cuda' requested but this onnxruntime has no CUDAExecutionProvider "
                    f"(available: {ort.get_available_providers()}); `pip install onnxruntime-gpu`"
                )
            self.device_type, self.device_id = "cuda", _device_id(device)
            providers = [("CUDAExecutionProvider", {"device_id": self.device_id}), *providers]
        self.session = ort.InferenceSession(str(path), opts, providers=providers)
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.providers = self.session.get_providers()

    def to_native(self, array: np.ndarray) -> Any:
        return self._ort.OrtValue.ortvalue_from_numpy(
            np.ascontiguousarray(array), self.device_type, self.device_id
        )

    def to_host(self, value: Any) -> np.ndarray:
        return value.numpy() if hasattr(value, "numpy") else np.asarray(value)

    def run(self, feeds: dict[str, Any]) -> dict[str, Any]:
        native = {
            k: (self.to_native(v) if isinstance(v, np.ndarray) else v) for k, v in feeds.items()
        }
        outs = self.session.run_with_ort_values(self.output_names, native)
        return dict(zip(self.output_names, outs))


class TrtGraph:
    """One TensorRT engine (``.plan``) run on a CUDA stream with torch-allocated buffers.

    Args:
        path: Serialized engine from :func:`vla_lego.export.tensorrt_build.build_engine`.
        device: ``cuda[:N]``.
    """

    def __init__(self, path: Path, device: str = "cuda") -> None:
        trt = require_tensorrt()
        import torch

        self._torch = torch
        self._trt = trt
        self.device = torch.device(device if device.startswith("cuda") else "cuda")
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        with torch.cuda.device(self.device):  # TensorRT works on the current CUDA device
            engine = self._runtime.deserialize_cuda_engine(Path(path).read_bytes())
            if engine is None:
                raise RuntimeError(f"TensorRT could not deserialize {path} (another version?)")
            self.engine = engine
            self.context = engine.create_execution_context()
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        is_in = {n: engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT for n in names}
        self.input_names = [n for n in names if is_in[n]]
        self.output_names = [n for n in names if not is_in[n]]
        self._dtypes = {
            n: torch.from_numpy(np.empty(0, dtype=trt.nptype(engine.get_tensor_dtype(n)))).dtype
            for n in names
        }

    def to_native(self, array: np.ndarray) -> Any:
        return self._torch.from_numpy(np.ascontiguousarray(array)).to(self.device)

    def to_host(self, value: Any) -> np.ndarray:
        return (
            value.detach().float().cpu().numpy()
            if value.is_floating_point()
            else (value.detach().cpu().numpy())
        )

    def run(self, feeds: dict[str, Any]) -> dict[str, Any]:
        with self._torch.cuda.device(self.device):
            return self._run(feeds)

    def _run(self, feeds: dict[str, Any]) -> dict[str, Any]:
        torch = self._torch
        keep = []
        for name in self.input_names:
            v = feeds[name]
            t = self.to_native(v) if isinstance(v, np.ndarray) else v
            t = t.to(self._dtypes[name]).contiguous()
            keep.append(t)
            self.context.set_input_shape(name, tuple(t.shape))
            self.context.set_tensor_address(name, t.data_ptr())
        outs = {}
        for name in self.output_names:
            shape = tuple(self.context.get_tensor_shape(name))
            out = torch.empty(shape, dtype=self._dtypes[name], device=self.device)
            outs[name] = out
            self.context.set_tensor_address(name, out.data_ptr())
        # Enqueue on torch's current stream: later torch work (and reuse of freed input buffers
        # by the caching allocator) is ordered after the engine without extra events.
        stream = torch.cuda.current_stream(self.device)
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError("TensorRT execute_async_v3 failed")
        del keep
        return outs


__all__ = ["SPIN_MODES", "GraphRunner", "OrtGraph", "TrtGraph"]
