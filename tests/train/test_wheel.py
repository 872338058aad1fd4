"""The built wheel trains on its own: configs are package data, nothing comes from the checkout.

The wheel of ``training/`` is installed into a fresh venv (the base interpreter of this one, no
system site-packages). Its third-party dependencies come from this environment's site-packages,
added as a plain path line of a ``.pth`` file: a path added that way is not a site directory, so
its own ``.pth`` files, among them the editable-install finder that maps ``vla_lego`` to
``training/vla_lego``, never run. Training then runs from a directory outside the checkout, and
every imported ``vla_lego`` module must come from the venv's site-packages.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TRAINING = REPO / "training"

# Runs `python -m vla_lego.train` (runpy is what -m uses) and reports where every vla_lego module
# was imported from, also when training fails.
DRIVER = """
import json, runpy, sys
overrides = sys.argv[1:]
sys.argv = ["vla_lego.train", *overrides]
try:
    runpy.run_module("vla_lego.train", run_name="__main__", alter_sys=True)
finally:
    files = {
        name: getattr(mod, "__file__", None)
        for name, mod in list(sys.modules.items())
        if name == "vla_lego" or name.startswith("vla_lego.")
    }
    print("VLA_MODULES=" + json.dumps(files), flush=True)
"""


def _run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kwargs)  # type: ignore[call-overload]
    assert (
        res.returncode == 0
    ), f"{cmd[:4]} failed ({res.returncode}):\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res  # type: ignore[no-any-return]


def _build_wheel(tmp: Path) -> Path:
    """Builds from a copy of the sources so the checkout gets no build/ or egg-info changes."""
    src = tmp / "src"
    src.mkdir()
    shutil.copy(TRAINING / "pyproject.toml", src / "pyproject.toml")
    shutil.copytree(
        TRAINING / "vla_lego",
        src / "vla_lego",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"),
    )
    dist = tmp / "dist"
    flags = ["--no-deps", "--no-build-isolation", "--no-index", "-q"]
    _run([sys.executable, "-m", "pip", "wheel", *flags, "-w", str(dist), str(src)])
    (wheel,) = dist.glob("vla_lego-*.whl")
    return wheel


def _venv_with(wheel: Path, tmp: Path) -> tuple[Path, Path]:
    """A fresh venv holding the wheel; returns ``(python, site-packages)``."""
    venv = tmp / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    _run([base, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    purelib = _run(
        [str(python), "-I", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]
    ).stdout.strip()
    target = Path(purelib)
    # --target: pip only writes into the new venv (it never touches this environment's install).
    flags = ["--no-deps", "--no-index", "-q", "--target", str(target)]
    _run([sys.executable, "-m", "pip", "install", *flags, str(wheel)])
    deps = [p for p in site.getsitepackages() if Path(p).is_dir()]
    (target / "_third_party_from_dev_env.pth").write_text("".join(f"{p}\n" for p in deps))
    return python, target


@pytest.mark.slow
def test_wheel_trains_outside_the_checkout(tmp_path: Path) -> None:
    t0 = time.perf_counter()
    wheel = _build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    for shipped in ("config.yaml", "model/tiny.yaml", "trainer/debug.yaml", "__init__.py"):
        assert f"vla_lego/configs/{shipped}" in names, f"{shipped} missing from {wheel.name}"
    python, site_packages = _venv_with(wheel, tmp_path)

    run_dir = tmp_path / "elsewhere"
    run_dir.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "VLA_LEGO_CONFIG_DIR")
        and not k.startswith("VLA_")
    }
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", WANDB_MODE="disabled")
    overrides = [
        "trainer=debug",
        "model=tiny",
        "data=dummy",
        "logging=disabled",
        "trainer.max_steps=2",
        "trainer.checkpoint.every_n_steps=2",
        "trainer.validation.every_n_steps=2",
        "trainer.training.batch_size_per_device=2",
        "trainer.num_threads=1",
        "data.num_samples=8",
        "data.val_num_samples=2",
        f"paths.root={run_dir}",
        f"hydra.run.dir={run_dir / 'hydra'}",
    ]
    res = _run([str(python), "-c", DRIVER, *overrides], cwd=run_dir, env=env)

    line = next(x for x in res.stdout.splitlines() if x.startswith("VLA_MODULES="))
    modules = json.loads(line.removeprefix("VLA_MODULES="))
    assert {"vla_lego", "vla_lego.configs", "vla_lego.train.trainer"} <= set(modules)
    assert "vla_lego.models.eo1.modeling_eo1" in modules
    wrong = {
        n: f
        for n, f in modules.items()
        if f is not None and not Path(f).is_relative_to(site_packages)
    }
    assert not wrong, f"modules not from the installed wheel: {wrong}"
    assert not any(str(REPO) in (f or "") for f in modules.values())

    policy_dirs = list((run_dir / "checkpoints").glob("*/step_*/policy"))
    assert policy_dirs, f"no checkpoint under {run_dir}:\n{res.stdout[-2000:]}"
    policy = policy_dirs[0]
    assert json.loads((policy / "model.json").read_text()) == {"model_type": "eo1"}
    assert json.loads((policy / "eo1_config.json").read_text())["name"] == "tiny"
    print(f"wheel build + install + train: {time.perf_counter() - t0:.1f} s")
