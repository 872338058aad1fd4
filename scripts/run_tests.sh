#!/usr/bin/env bash
# Runs the test suite with DDS kept on loopback and a ROS domain id of this run's own.
# Exit code 5 (no tests collected) is a failure, not a pass. The launch_testing files of
# tests/launch run through `python -m launch_testing.launch_test` (tests/launch/test_launch_files.py),
# so launch_testing's own pytest plugins stay off: they do not load under pytest 9, and an apt ROS 2
# on PYTHONPATH would otherwise register them.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-$(( (RANDOM % 100) + 110 ))}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 WANDB_MODE="${WANDB_MODE:-disabled}"
export MUJOCO_GL="${MUJOCO_GL:-egl}"
python -m pytest -p no:launch_testing -p no:launch_ros "$@"
rc=$?
if [[ $rc -eq 5 ]]; then
  echo "ERROR: no tests were collected" >&2
  exit 1
fi
exit $rc
