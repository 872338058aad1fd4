"""The real LeRobot as an outside implementation for tests: write datasets exactly as LeRobot
writes them, and read the datasets this project writes with LeRobot's own reader.

Two releases, picked by the ``version`` argument of each function here:

- ``"0.4.4"`` (the default; writes codebase v3.0): scripts/setup.sh stage 5 installs it into
  ``$VLA_VENV/tools/lerobot044`` (default ``<repo>/.venv/tools/lerobot044``), pinned in
  requirements.txt beside this file;
- ``"0.3.3"`` (the last release that writes codebase v2.1): stage 6 installs it into
  ``$VLA_VENV/tools/lerobot033``, pinned in requirements-v21.txt.

Either runs in a subprocess of this python (lerobot_tool.py) with its folder and the torchvision
stand-in first on PYTHONPATH, the hub offline and HF_HOME in a temporary folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[2]
TOOL = HERE / "lerobot_tool.py"
STANDIN = HERE / "standin"
TOOLS = Path(os.environ.get("VLA_VENV") or REPO_ROOT / ".venv") / "tools"
DEFAULT_VERSION = "0.4.4"
# version: (install folder, the setup.sh stage that installs it)
TARGETS = {"0.4.4": (TOOLS / "lerobot044", 5), "0.3.3": (TOOLS / "lerobot033", 6)}
LEROBOT_TARGET = TARGETS[DEFAULT_VERSION][0]


def target(version: str = DEFAULT_VERSION) -> Path:
    """The folder setup.sh installs LeRobot ``version`` into."""
    if version not in TARGETS:
        raise ValueError(f"no LeRobot reference {version!r}; known: {sorted(TARGETS)}")
    return TARGETS[version][0]


def unavailable(version: str = DEFAULT_VERSION) -> str:
    """Why the reference ``version`` cannot run (a skip reason)."""
    return (
        f"the LeRobot {version} reference is not installed at {target(version)} "
        f"(run `bash scripts/setup.sh`, stage {TARGETS[version][1]})"
    )


UNAVAILABLE = unavailable(DEFAULT_VERSION)


def available(version: str = DEFAULT_VERSION) -> bool:
    """True when setup.sh installed the reference ``version``."""
    return (target(version) / "lerobot" / "datasets" / "lerobot_dataset.py").is_file()


def npz_key(key: str) -> str:
    """A camera key as lerobot_tool.py names its arrays: '.' becomes '__'."""
    return key.replace(".", "__")


def run_tool(
    args: list[str], timeout: float = 300, version: str = DEFAULT_VERSION
) -> subprocess.CompletedProcess[str]:
    """Run ``lerobot_tool.py ARGS`` with the reference ``version`` on PYTHONPATH; AssertionError
    (with the tool's stderr) when it fails."""
    assert available(version), unavailable(version)
    with tempfile.TemporaryDirectory(prefix="lerobot_ref_home_") as home:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(target(version)), str(STANDIN)]),
            "PYTHONNOUSERSITE": "1",
            "HF_HUB_OFFLINE": "1",
            "HF_DATASETS_OFFLINE": "1",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HOME": str(Path(home) / "hf"),
            "HF_LEROBOT_HOME": str(Path(home) / "lerobot"),
            "TQDM_DISABLE": "1",
        }
        proc = subprocess.run(
            [sys.executable, str(TOOL), *args],
            env=env,
            cwd=home,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    why = [ln for ln in proc.stderr.splitlines() if ln.startswith("lerobot_tool ")]
    assert proc.returncode == 0, (
        f"lerobot_tool.py {' '.join(args)} exited {proc.returncode}: {' '.join(why)}\n"
        f"--- stderr (last 6000 chars) ---\n{proc.stderr[-6000:]}\n--- stdout ---\n{proc.stdout}"
    )
    return proc


def write_dataset(
    root: str | Path,
    spec_dict: Mapping[str, Any],
    episodes_arrays: Sequence[Mapping[str, Any]],
    version: str = DEFAULT_VERSION,
) -> dict[str, Any]:
    """Write a dataset at ``root`` (which must not exist) with LeRobot ``version``'s own writer
    (0.4.4: codebase v3.0; 0.3.3: codebase v2.1).

    spec_dict: ``fps``, ``use_videos`` (default True), ``robot_type``, ``cameras`` {key: (h, w)},
    ``state_names``, ``action_names`` (default: state_names) and the tasks, either ``tasks`` (one
    str per episode) or a ``task`` str in each episode's arrays. episodes_arrays: per episode
    ``state`` [N, D], ``action`` [N, D] and, per camera key (as in cameras, or with '__' for '.'),
    uint8 [N, H, W, 3]. Returns the tool's JSON summary.
    """
    spec = {k: v for k, v in spec_dict.items() if k != "tasks"}
    cameras = {k: [int(h), int(w)] for k, (h, w) in spec_dict.get("cameras", {}).items()}
    spec["cameras"] = cameras
    tasks = list(spec_dict.get("tasks") or [ep.get("task") for ep in episodes_arrays])
    assert len(tasks) == len(episodes_arrays) and all(
        isinstance(t, str) for t in tasks
    ), f"one task str per episode needed, got {tasks!r}"
    with tempfile.TemporaryDirectory(prefix="lerobot_ref_spec_") as tmp:
        spec["episodes"] = []
        for i, (ep, task) in enumerate(zip(episodes_arrays, tasks, strict=True)):
            arrays = {"state": np.asarray(ep["state"]), "action": np.asarray(ep["action"])}
            for key in cameras:
                arrays[npz_key(key)] = np.asarray(ep[key] if key in ep else ep[npz_key(key)])
            np.savez(Path(tmp) / f"episode_{i:03d}.npz", **arrays)
            spec["episodes"].append({"task": task, "frames": f"episode_{i:03d}.npz"})
        spec_path = Path(tmp) / "spec.json"
        spec_path.write_text(json.dumps(spec, indent=2))
        proc = run_tool(
            ["write", "--root", str(Path(root).resolve()), "--spec", str(spec_path)],
            version=version,
        )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def read_dataset(
    root: str | Path, video_backend: str = "pyav", version: str = DEFAULT_VERSION
) -> dict[str, np.ndarray]:
    """Every frame of the dataset at ``root`` as LeRobot ``version`` returns it, in index order
    (0.4.4 reads codebase v3.0, 0.3.3 reads v2.0/v2.1).

    Keys: ``state``, ``action`` [N, D] float32; ``episode_index``, ``frame_index``, ``index``,
    ``task_index`` int64 [N]; ``timestamp`` float32 [N]; ``tasks`` str [N]; ``camera_keys`` str;
    ``state_names``/``action_names`` when the features name them; and per camera key (the dataset's
    own, e.g. "observation.images.cam_high") uint8 images [N, H, W, 3].
    """
    with tempfile.TemporaryDirectory(prefix="lerobot_ref_read_") as tmp:
        out = Path(tmp) / "frames.npz"
        run_tool(
            [
                *("read", "--root", str(Path(root).resolve())),
                *("--out", str(out), "--video-backend", video_backend),
            ],
            version=version,
        )
        with np.load(out) as z:
            arrays = {k: z[k] for k in z.files}
    for key in arrays["camera_keys"].tolist():
        arrays[key] = arrays.pop(npz_key(key))
    return arrays
