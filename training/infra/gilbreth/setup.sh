#!/usr/bin/env bash
# One-time set-up on Gilbreth (login node): scratch layout, symlinks from the checkout, .env, and
# the Apptainer image.
#   bash training/infra/gilbreth/setup.sh
# Variables: VLA_SCRATCH_ROOT (default $RCAC_SCRATCH/vla-lego), VLA_SIF (image path),
# VLA_IMAGE_URI (where to build the image from, default docker-daemon vla-lego:latest; e.g.
# docker://ghcr.io/you/vla-lego:latest), DRY_RUN=1 (print, change nothing).
set -euo pipefail

REPO="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../../.." && pwd)"
SCRATCH="${VLA_SCRATCH_ROOT:-${RCAC_SCRATCH:-$HOME/scratch}/vla-lego}"
SIF="${VLA_SIF:-$SCRATCH/containers/vla-lego.sif}"
IMAGE_URI="${VLA_IMAGE_URI:-docker-daemon://vla-lego:latest}"

run() {
  if [[ "${DRY_RUN:-0}" == "1" ]]; then printf '%q ' "$@"; echo; else "$@"; fi
}

# 1. Scratch folders; the checkout gets symlinks so that relative paths land on scratch too.
for sub in checkpoints logs wandb cache containers; do
  run mkdir -p "$SCRATCH/$sub"
done
for sub in checkpoints logs wandb cache; do
  link="$REPO/$sub"
  if [[ -L "$link" || ! -e "$link" ]]; then
    run ln -sfn "$SCRATCH/$sub" "$link"
  else
    echo "[setup] $link exists and is not a symlink; leaving it (move it to $SCRATCH/$sub)" >&2
  fi
done

# 2. .env with the scratch root (kept if present).
if [[ ! -f "$REPO/.env" ]]; then
  if [[ "${DRY_RUN:-0}" == "1" ]]; then
    echo "write $REPO/.env with VLA_SCRATCH_ROOT=$SCRATCH"
  else
    sed "s|^VLA_SCRATCH_ROOT=.*|VLA_SCRATCH_ROOT=$SCRATCH|" "$REPO/.env.example" >"$REPO/.env"
  fi
fi

# 3. The Apptainer image (Apptainer's cache and temp dirs on scratch: home quotas are small).
export APPTAINER_CACHEDIR="${APPTAINER_CACHEDIR:-$SCRATCH/cache/apptainer}"
export APPTAINER_TMPDIR="${APPTAINER_TMPDIR:-$SCRATCH/cache/apptainer-tmp}"
run mkdir -p "$APPTAINER_CACHEDIR" "$APPTAINER_TMPDIR"
if [[ -f "$SIF" ]]; then
  echo "[setup] image $SIF exists (delete it to rebuild)" >&2
else
  bootstrap="${IMAGE_URI%%://*}"
  image="${IMAGE_URI#*://}"
  run apptainer build --build-arg "BOOTSTRAP=$bootstrap" --build-arg "IMAGE=$image" \
    "$SIF" "$REPO/docker/apptainer.def"
fi
echo "[setup] done: scratch $SCRATCH, image $SIF" >&2
