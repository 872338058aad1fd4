#!/usr/bin/env bash
# Runs a command in the VLA-LEGO Apptainer image with this checkout bound at /workspace.
#   scripts/apptainer-run.sh python -m vla_lego.train trainer=debug
# Environment: VLA_SIF (image file; default $VLA_SCRATCH_ROOT/containers/vla-lego.sif, else
# ./vla-lego.sif), VLA_DRY_RUN=1 prints the command instead of running it. --nv is added when a
# GPU is visible. Values from .env are exported first.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -f "$ROOT/.env" ]]; then
  set -a
  # shellcheck disable=SC1091
  source "$ROOT/.env"
  set +a
fi
if [[ -n "${VLA_SCRATCH_ROOT:-}" ]]; then
  SIF="${VLA_SIF:-$VLA_SCRATCH_ROOT/containers/vla-lego.sif}"
else
  SIF="${VLA_SIF:-$ROOT/vla-lego.sif}"
fi
APPTAINER="$(command -v apptainer || command -v singularity || echo apptainer)"

args=(exec --cleanenv --bind "$ROOT:/workspace" --pwd /workspace)
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  args+=(--nv)
fi
if [[ -n "${VLA_SCRATCH_ROOT:-}" ]]; then
  args+=(--bind "$VLA_SCRATCH_ROOT:$VLA_SCRATCH_ROOT" --env "VLA_SCRATCH_ROOT=$VLA_SCRATCH_ROOT")
fi
# --cleanenv drops the host environment: pass on what training needs (settings from .env,
# W&B, NCCL/torch tuning, the SLURM layout for rank discovery).
passthrough=(CUDA_DEVICE_ORDER CUDA_VISIBLE_DEVICES ROS_DOMAIN_ID EO1_BACKBONE_PATH MASTER_ADDR
  MASTER_PORT SLURM_JOB_ID SLURM_PROCID SLURM_NTASKS SLURM_LOCALID SLURM_JOB_NODELIST
  SLURM_NNODES SLURM_NODEID)
while IFS= read -r var; do
  passthrough+=("$var")
done < <(compgen -e | grep -E '^(VLA_|WANDB_|NCCL_|TORCH_|HF_)' | grep -vE '^VLA_(SCRATCH_ROOT|VENV|LEGO_ROOT|DRY_RUN)$')
for var in "${passthrough[@]}"; do
  [[ -n "${!var:-}" ]] && args+=(--env "$var=${!var}")
done
args+=("$SIF" /usr/local/bin/container-entrypoint.sh)
if (($# > 0)); then args+=("$@"); else args+=(bash); fi

if [[ "${VLA_DRY_RUN:-0}" == "1" ]]; then
  printf '%q ' "$APPTAINER" "${args[@]}"; echo
  exit 0
fi
if [[ ! -f "$SIF" ]]; then
  echo "ERROR: Apptainer image $SIF not found; build it with training/infra/gilbreth/setup.sh" \
    "or set VLA_SIF" >&2
  exit 2
fi
exec "$APPTAINER" "${args[@]}"
