#!/usr/bin/env bash
# Runs a command in the VLA-LEGO Docker image with this checkout bind-mounted at /workspace.
#   scripts/docker-run.sh                                   # interactive shell
#   scripts/docker-run.sh python -m vla_lego.train trainer=debug
# Environment: VLA_IMAGE (default vla-lego:latest), VLA_GPUS (default "all" when nvidia-smi
# exists, else none), VLA_DRY_RUN=1 prints the docker command instead of running it.
# Values from .env (see .env.example) are passed into the container.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
IMAGE="${VLA_IMAGE:-vla-lego:latest}"
if [[ -z "${VLA_GPUS+x}" ]]; then
  if command -v nvidia-smi >/dev/null 2>&1; then VLA_GPUS=all; else VLA_GPUS=; fi
fi

args=(run --rm --init --ipc=host --network=host
  -v "$ROOT:/workspace" -w /workspace)
[[ -t 0 && -t 1 ]] && args+=(-it)
[[ -n "$VLA_GPUS" ]] && args+=(--gpus "$VLA_GPUS")
[[ -f "$ROOT/.env" ]] && args+=(--env-file "$ROOT/.env")
if [[ -n "${VLA_SCRATCH_ROOT:-}" ]]; then
  args+=(-v "$VLA_SCRATCH_ROOT:$VLA_SCRATCH_ROOT" -e "VLA_SCRATCH_ROOT=$VLA_SCRATCH_ROOT")
fi
for var in WANDB_MODE WANDB_API_KEY CUDA_DEVICE_ORDER ROS_DOMAIN_ID EO1_BACKBONE_PATH VLA_DATASET; do
  [[ -n "${!var:-}" ]] && args+=(-e "$var")
done
args+=("$IMAGE")
(($# > 0)) && args+=("$@")

if [[ "${VLA_DRY_RUN:-0}" == "1" ]]; then
  printf '%q ' docker "${args[@]}"; echo
  exit 0
fi
exec docker "${args[@]}"
