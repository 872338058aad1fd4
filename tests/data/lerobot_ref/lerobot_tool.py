"""Write and read LeRobot datasets with the real LeRobot (reference implementation).

``lerobot==0.4.4`` (writes codebase v3.0) or ``lerobot==0.3.3`` (writes codebase v2.1), whichever
is on PYTHONPATH. Run by the main venv's python with PYTHONPATH=<target>:<standin>, the target being
.venv/tools/lerobot044 or .venv/tools/lerobot033 (see ref.py, which sets that up), so the reference
install's datasets/huggingface_hub/av shadow the venv's:

    lerobot_tool.py write --root R --spec SPEC.json
    lerobot_tool.py read --root R --out OUT.npz [--video-backend pyav]

SPEC.json::

    {"fps": 20, "use_videos": true, "robot_type": "h1",
     "cameras": {"observation.images.cam_high": [32, 48]},      # key: [height, width]
     "state_names": ["j0", ...], "action_names": ["j0", ...],   # action_names defaults to state's
     "episodes": [{"task": "stack", "frames": "ep0.npz"}, ...]}  # relative to SPEC.json's folder

Each episode's .npz holds ``state`` [N, D] float32, ``action`` [N, D] and, per camera, a uint8
array [N, H, W, 3] named by the key with '.' replaced by '__'. ``write`` creates R (it must not
exist) with ``LeRobotDataset.create``, ``add_frame``/``save_episode`` per episode and
``finalize()``; cameras are "video" features (AV1 mp4, LeRobot's defaults) when use_videos is true,
"image" features (PNG in the parquet files) otherwise. The two versions differ in how a frame's
task is given (0.4.x: a "task" entry of the frame dict; 0.3.x: ``add_frame(frame, task=...)``, and
a "task" key in the frame is an unknown feature there) and 0.3.x has no ``finalize()`` (each
``save_episode`` writes its own parquet/mp4 and the meta/*.jsonl lines).

``read`` opens R with ``LeRobotDataset(repo_id="local/test", root=R, video_backend=...)``, takes
every frame in index order and saves ``state``, ``action``, ``episode_index``, ``frame_index``,
``timestamp``, ``index``, ``task_index``, ``tasks`` (str per frame), ``camera_keys``,
``state_names``/``action_names`` (when the features list names) and, per camera key (named with
'__' like above), uint8 images [N, H, W, 3] (LeRobot's float CHW in [0, 1] times 255, rounded).

Nothing here reaches the network: the hub is offline, the two hub entry points LeRobot falls back
to when files are missing raise instead, and IP sockets refuse to connect. A JSON summary (with
the LeRobot version and the codebase version it writes) goes to stdout; errors go to stderr with
exit status 1.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

REPO_ID = "local/test"
STATE, ACTION = "observation.state", "action"


def _no_network() -> None:
    connect = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            raise OSError(f"lerobot_tool: network access refused (connect to {address!r})")
        return connect(self, address)

    socket.socket.connect = guarded  # type: ignore[method-assign]


def _no_hub(lerobot_dataset: Any) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(
            "lerobot_tool: LeRobot tried to fetch from the hub (files missing under the dataset "
            f"root?) args={args!r} kwargs={kwargs!r}"
        )

    lerobot_dataset.snapshot_download = refuse
    lerobot_dataset.get_safe_version = refuse


def _import_lerobot() -> Any:
    _no_network()
    import lerobot.datasets.lerobot_dataset as lerobot_dataset

    _no_hub(lerobot_dataset)
    return lerobot_dataset


def _versions(lerobot_dataset: Any) -> dict[str, str]:
    import lerobot

    return {
        "lerobot_version": str(getattr(lerobot, "__version__", "unknown")),
        "codebase_version": str(lerobot_dataset.CODEBASE_VERSION),
    }


def _task_in_frame(ds: Any) -> bool:
    """True where the task goes into the frame dict (0.4.x, ``add_frame(frame)``); False where it
    is add_frame's own argument (0.3.x, ``add_frame(frame, task, timestamp=None)``)."""
    return "task" not in inspect.signature(ds.add_frame).parameters


def _npz_key(key: str) -> str:
    return key.replace(".", "__")


def write(root: Path, spec_path: Path) -> dict[str, Any]:
    import numpy as np

    spec = json.loads(spec_path.read_text())
    use_videos = bool(spec.get("use_videos", True))
    state_names = list(spec["state_names"])
    action_names = list(spec.get("action_names") or state_names)
    cameras = {k: (int(h), int(w)) for k, (h, w) in spec.get("cameras", {}).items()}
    features: dict[str, dict[str, Any]] = {
        STATE: {"dtype": "float32", "shape": (len(state_names),), "names": state_names},
        ACTION: {"dtype": "float32", "shape": (len(action_names),), "names": action_names},
    }
    for key, (h, w) in cameras.items():
        features[key] = {
            "dtype": "video" if use_videos else "image",
            "shape": (h, w, 3),
            "names": ["height", "width", "channels"],
        }

    lerobot_dataset = _import_lerobot()
    ds = lerobot_dataset.LeRobotDataset.create(
        repo_id=REPO_ID,
        root=root,
        fps=int(spec["fps"]),
        features=features,
        use_videos=use_videos,
        robot_type=spec.get("robot_type"),
    )
    task_in_frame = _task_in_frame(ds)
    lengths = []
    for ep in spec["episodes"]:
        frames_path = Path(ep["frames"])
        if not frames_path.is_absolute():
            frames_path = spec_path.parent / frames_path
        with np.load(frames_path) as z:
            arrays = {k: z[k] for k in z.files}
        state = arrays["state"].astype(np.float32)
        action = arrays["action"].astype(np.float32)
        images = {key: arrays[_npz_key(key)] for key in cameras}
        n = len(state)
        for key, img in images.items():
            if img.dtype != np.uint8 or img.shape != (n, *cameras[key], 3):
                raise ValueError(
                    f"{frames_path}: {_npz_key(key)} is {img.dtype} {img.shape}, "
                    f"expected uint8 {(n, *cameras[key], 3)}"
                )
        for i in range(n):
            frame: dict[str, Any] = {STATE: state[i], ACTION: action[i]}
            frame.update({key: img[i] for key, img in images.items()})
            if task_in_frame:
                ds.add_frame({**frame, "task": ep["task"]})
            else:
                ds.add_frame(frame, task=ep["task"])
        ds.save_episode()
        lengths.append(n)
    if hasattr(ds, "finalize"):  # 0.4.x closes its parquet writers and the meta files here
        ds.finalize()
    summary = {"root": str(root), "episodes": len(lengths), "lengths": lengths}
    return {**summary, **_versions(lerobot_dataset)}


def _names(feature: dict[str, Any] | None) -> list[str] | None:
    names = (feature or {}).get("names")
    if isinstance(names, dict) and len(names) == 1:  # v2.x style {"motors": [...]}
        names = next(iter(names.values()))
    if isinstance(names, list) and all(isinstance(n, str) for n in names):
        return names
    return None


def read(root: Path, out: Path, video_backend: str) -> dict[str, Any]:
    import numpy as np
    import torch

    lerobot_dataset = _import_lerobot()
    ds = lerobot_dataset.LeRobotDataset(repo_id=REPO_ID, root=root, video_backend=video_backend)
    cams = list(ds.meta.camera_keys)
    numeric = ("state", "action", "episode_index", "frame_index", "timestamp", "index")
    numeric += ("task_index",)
    cols: dict[str, list[Any]] = {k: [] for k in (*numeric, "tasks")}
    images: dict[str, list[np.ndarray]] = {k: [] for k in cams}
    for i in range(len(ds)):
        item = ds[i]
        for name, key in (("state", STATE), ("action", ACTION)):
            if key in item:
                cols[name].append(item[key].numpy())
        for name in ("episode_index", "frame_index", "timestamp", "index", "task_index"):
            cols[name].append(item[name].numpy())
        cols["tasks"].append(item["task"])
        for key in cams:
            chw = item[key]
            u8 = torch.round(chw.to(torch.float32) * 255).clamp(0, 255).to(torch.uint8)
            images[key].append(u8.permute(1, 2, 0).numpy())
    arrays: dict[str, np.ndarray] = {k: np.stack(v) for k, v in cols.items() if v and k != "tasks"}
    arrays["tasks"] = np.array(cols["tasks"], dtype=str)
    arrays["camera_keys"] = np.array(cams, dtype=str)
    for key in cams:
        arrays[_npz_key(key)] = np.stack(images[key])
    for name, key in (("state_names", STATE), ("action_names", ACTION)):
        names = _names(ds.meta.features.get(key))
        if names is not None:
            arrays[name] = np.array(names, dtype=str)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, **arrays)
    return {
        "root": str(root),
        "frames": len(ds),
        "episodes": ds.meta.total_episodes,
        "codebase_version": ds.meta.info.get("codebase_version"),
        "camera_keys": cams,
        "lerobot_version": _versions(lerobot_dataset)["lerobot_version"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write", help="write a dataset with LeRobotDataset.create")
    w.add_argument("--root", type=Path, required=True)
    w.add_argument("--spec", type=Path, required=True)
    r = sub.add_parser("read", help="read every frame of a dataset with LeRobotDataset")
    r.add_argument("--root", type=Path, required=True)
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--video-backend", default="pyav", choices=["pyav"])
    args = parser.parse_args(argv)
    try:
        if args.cmd == "write":
            summary = write(args.root, args.spec)
        else:
            summary = read(args.root, args.out, args.video_backend)
    except Exception as e:  # one readable line for the caller, then the traceback
        import traceback

        print(f"lerobot_tool {args.cmd}: {type(e).__name__}: {e}", file=sys.stderr)
        traceback.print_exc()
        return 1
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
