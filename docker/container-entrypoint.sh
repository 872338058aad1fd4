#!/usr/bin/env bash
# Entrypoint of the VLA-LEGO image (Docker and Apptainer). Prepares the environment for the
# checkout bind-mounted at /workspace, then runs the given command.
#   VLA_ROS_ENV=pip (default): the Python 3.11 venv with the pip ROS 2 wheels + training stack.
#   VLA_ROS_ENV=apt: the apt ROS 2 underlay (ros2 launch, launch_testing, ros2 bag, cv_bridge)
#                    with its own system Python; the venv is not activated.
set -euo pipefail

WORKSPACE="${VLA_WORKSPACE:-/workspace}"
export VLA_VENV="${VLA_VENV:-/opt/venv}"
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"

if [[ "${VLA_ROS_ENV:-pip}" == "apt" ]]; then
  # shellcheck disable=SC1090
  source "/opt/ros/${VLA_ROS_DISTRO:-kilted}/setup.bash"
else
  if [[ -f "$WORKSPACE/scripts/env.sh" ]]; then
    # First start on a fresh checkout: install the package (editable) and build ros2_ws; the
    # setup script is idempotent and fast when nothing changed. Apptainer images are read-only:
    # they set VLA_SKIP_SETUP=1 and rely on PYTHONPATH below.
    if [[ "${VLA_SKIP_SETUP:-0}" != "1" && -w "$WORKSPACE" ]]; then
      bash "$WORKSPACE/scripts/setup.sh" >&2 || echo "[entrypoint] setup.sh failed" >&2
    fi
    # shellcheck disable=SC1091
    source "$WORKSPACE/scripts/env.sh"
  else
    # shellcheck disable=SC1091
    source "$VLA_VENV/bin/activate"
    echo "[entrypoint] no checkout at $WORKSPACE (bind-mount it with -v \$PWD:/workspace)" >&2
  fi
fi

# vla_lego from the checkout even where the venv is read-only (Apptainer: no editable install).
export PYTHONPATH="$WORKSPACE/training${PYTHONPATH:+:$PYTHONPATH}"

# Scratch layout for checkpoints/logs/wandb/cache (see .env.example).
if [[ -n "${VLA_SCRATCH_ROOT:-}" ]]; then
  mkdir -p "$VLA_SCRATCH_ROOT"/{checkpoints,logs,wandb,cache} 2>/dev/null || true
fi

exec "$@"
