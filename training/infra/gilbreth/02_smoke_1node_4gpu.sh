#!/usr/bin/env bash
# Smoke test on one node with 4 GPUs: DDP (NCCL) on the base model.
# Submit from a login node:  bash training/infra/gilbreth/02_smoke_1node_4gpu.sh [overrides]
# The variables below are read by common.sh (sbatch options and the launch).
# shellcheck disable=SC2034
ACCOUNT="${ACCOUNT:-your-account}"
PARTITION="${PARTITION:-a100-80gb}"
QOS="${QOS:-standby}"
TIME="${TIME:-01:00:00}"
NODES=1
GPUS_PER_NODE="${GPUS_PER_NODE:-4}"
CPUS_PER_GPU="${CPUS_PER_GPU:-8}"
MEM_PER_GPU="${MEM_PER_GPU:-64}"
JOB_NAME="${JOB_NAME:-vla-smoke-1node-4gpu}"
set -euo pipefail

# Inside the job this file is slurmd's spooled copy: common.sh is found through VLA_REPO, which the
# submission exported (see common.sh).
HERE="${VLA_REPO:+$VLA_REPO/training/infra/gilbreth}"
# shellcheck disable=SC1091
source "${HERE:-$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")}/common.sh"
submit_self "$(readlink -f "${BASH_SOURCE[0]}")" "$@"

launch_torchrun trainer=debug model=base cluster=local trainer.max_steps=200 \
  run_name="smoke-4gpu-${SLURM_JOB_ID}" "$@"
