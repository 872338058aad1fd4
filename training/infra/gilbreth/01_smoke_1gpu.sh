#!/usr/bin/env bash
# Smoke test on one GPU: the debug trainer on the tiny model, plain PyTorch, bf16.
# Submit from a login node:  bash training/infra/gilbreth/01_smoke_1gpu.sh [extra overrides]
# (DRY_RUN=1 prints the sbatch/srun commands instead.)
# The variables below are read by common.sh (sbatch options and the launch).
# shellcheck disable=SC2034
ACCOUNT="${ACCOUNT:-your-account}"
PARTITION="${PARTITION:-a100-80gb}"
QOS="${QOS:-standby}"
TIME="${TIME:-00:30:00}"
NODES=1
GPUS_PER_NODE="${GPUS_PER_NODE:-1}"
CPUS_PER_GPU="${CPUS_PER_GPU:-8}"
MEM_PER_GPU="${MEM_PER_GPU:-64}"
JOB_NAME="${JOB_NAME:-vla-smoke-1gpu}"
set -euo pipefail

# Inside the job this file is slurmd's spooled copy: common.sh is found through VLA_REPO, which the
# submission exported (see common.sh).
HERE="${VLA_REPO:+$VLA_REPO/training/infra/gilbreth}"
# shellcheck disable=SC1091
source "${HERE:-$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")}/common.sh"
submit_self "$(readlink -f "${BASH_SOURCE[0]}")" "$@"

launch_torchrun trainer=debug model=tiny cluster=local trainer.training.precision=bf16 \
  run_name="smoke-1gpu-${SLURM_JOB_ID}" "$@"
