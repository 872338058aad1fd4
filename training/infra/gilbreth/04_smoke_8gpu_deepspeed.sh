#!/usr/bin/env bash
# Multi-node smoke test: 2 nodes x 4 GPUs, DeepSpeed ZeRO-2 + bf16 (cluster=gilbreth), one
# torchrun per node (srun) meeting at a c10d rendezvous on the first node.
# Submit from a login node:  bash training/infra/gilbreth/04_smoke_8gpu_deepspeed.sh [overrides]
# The variables below are read by common.sh (sbatch options and the launch).
# shellcheck disable=SC2034
ACCOUNT="${ACCOUNT:-your-account}"
PARTITION="${PARTITION:-a100-80gb}"
QOS="${QOS:-normal}"
TIME="${TIME:-02:00:00}"
NODES="${NODES:-2}"
GPUS_PER_NODE="${GPUS_PER_NODE:-4}"
CPUS_PER_GPU="${CPUS_PER_GPU:-8}"
MEM_PER_GPU="${MEM_PER_GPU:-64}"
JOB_NAME="${JOB_NAME:-vla-smoke-8gpu-ds}"
set -euo pipefail

# Inside the job this file is slurmd's spooled copy: common.sh is found through VLA_REPO, which the
# submission exported (see common.sh).
HERE="${VLA_REPO:+$VLA_REPO/training/infra/gilbreth}"
# shellcheck disable=SC1091
source "${HERE:-$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")}/common.sh"
submit_self "$(readlink -f "${BASH_SOURCE[0]}")" "$@"

launch_torchrun trainer=default model=large cluster=gilbreth trainer.max_steps=500 \
  trainer.validation.every_n_steps=250 trainer.checkpoint.every_n_steps=250 \
  run_name="smoke-8gpu-ds-${SLURM_JOB_ID}" "$@"
