#!/usr/bin/env bash
# One set-up path for a fresh machine: .venv (Python 3.11), Python deps, ROS 2 Kilted wheels,
# the wheels' CMake include-path fix, `colcon build` of ros2_ws, and the ROS 2 Python tools
# (launch, launch_testing, ros2cli: see stage 4). Idempotent: each stage keeps a stamp holding the
# hash of its inputs and is skipped when nothing changed.
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
# 4. ROS 2 Python tooling (launch, launch_ros, launch_testing, the `ros2` command line), from the
#    first of: a sourced ROS 2 installation (/opt/ros/$ROS_DISTRO, kept as it is), then
#    $VLA_ROS2_PYTHON or ../shared/ros2_python (unmodified sources, installed into the venv by their
#    own install.sh; never copied into this repository). The source used is printed and kept in
#    $STAMPS/ros2_tools.source. VLA_REQUIRE_ROS2_TOOLS=1 makes "none available" an error.
TOOLS_IMPORT="import launch, launch_ros, launch_testing, launch_testing_ros, ros2cli, ros2launch"
tools_importable() { "$PYBIN" -c "$TOOLS_IMPORT" >/dev/null 2>&1; }
tools_missing() {  # $1: why
  rm -f "$STAMPS/ros2_tools" "$STAMPS/ros2_tools.source"
  log "ROS 2 tools: UNAVAILABLE ($1): launch, launch_testing and ros2cli are not installed."
  log "  missing features: \`ros2 launch h1_bringup policy.launch.py\` (fallback: \`python -m" \
    "h1_bringup.up policy.launch.py ...\`); the launch_testing tests of tests/launch (skipped," \
    "an error when CI is set); the \`ros2 topic/service/param/node/interface\` command line."
  if [[ -n "${VLA_REQUIRE_ROS2_TOOLS:-}" ]]; then
    log "VLA_REQUIRE_ROS2_TOOLS is set: stopping"
    exit 1
  fi
}
# launch_testing registers a pytest plugin whose hooks pytest >= 9 rejects, and then *every*
# pytest run in the venv stops at start-up ("Error while loading plugin"). The launch tests run
# through `python -m launch_testing.launch_test` (tests/launch/test_launch_files.py), so the
# plugin's registration is taken out of the installed metadata when pytest cannot load it.
pytest_loads() {
  local t rc
  t="$(mktemp -d)"
  echo 'def test_ok(): pass' >"$t/test_ok.py"
  pytest_ok() {
    (cd "$t" && "$PYBIN" -m pytest -q -p no:cacheprovider --co test_ok.py) >/dev/null 2>&1
  }
  if pytest_ok; then rm -rf "$t"; return 0; fi
  log "pytest cannot load launch_testing's pytest plugins; unregistering them in $VENV"
  "$PYBIN" - <<'PYEOF'
import importlib.metadata as md
import re
from pathlib import Path

for name in ("launch_testing", "launch_testing_ros"):
    try:
        dist = md.distribution(name)
    except md.PackageNotFoundError:
        continue
    for f in dist.files or []:
        if f.name == "entry_points.txt" and f.parent.name.endswith(".dist-info"):
            path = Path(dist.locate_file(f))
            path.write_text(re.sub(r"\[pytest11\][^\[]*", "", path.read_text()))
PYEOF
  pytest_ok && rc=0 || rc=1
  rm -rf "$t"
  return $rc
}
ros_prefix="${ROS_DISTRO:+/opt/ros/$ROS_DISTRO}"
from_ros() {  # the sourced ROS 2 installation provides ros2 and launch to this interpreter
  [[ -n "$ros_prefix" && -d "$ros_prefix" ]] || return 1
  [[ "$(command -v ros2 || true)" == "$ros_prefix"/* ]] || return 1
  tools_importable || return 1
  [[ "$("$PYBIN" -c 'import launch; print(launch.__file__)')" == "$ros_prefix"/* ]]
}
tools_src="${VLA_ROS2_PYTHON:-$ROOT/../shared/ros2_python}"
if from_ros; then
  log "ROS 2 tools: the sourced ROS 2 installation $ros_prefix (ROS_DISTRO=$ROS_DISTRO), kept as is"
  echo "ros:$ros_prefix" >"$STAMPS/ros2_tools.source"
elif [[ -f "$tools_src/install.sh" ]]; then
  tools_src="$(cd "$tools_src" && pwd)"
  if [[ -n "$ros_prefix" ]]; then
    log "ROS_DISTRO=$ROS_DISTRO, but $ros_prefix gives $PYBIN no ros2/launch; using $tools_src"
  fi
  h="$( (cd "$tools_src" && find . -type f -not -name '*.pyc' -not -path '*/__pycache__/*' \
    -print0 | sort -z | xargs -0 sha256sum) | sha256sum | cut -d' ' -f1)"
  if stage_done ros2_tools "$h" && tools_importable && [[ -x "$VENV/bin/ros2" ]] && pytest_loads
  then
    log "ROS 2 tools: $tools_src (already installed in $VENV)"
  else
    log "ROS 2 tools: installing $tools_src into $VENV with its install.sh (~20 s)"
    if bash "$tools_src/install.sh" "$PYBIN" >&2 && tools_importable && [[ -x "$VENV/bin/ros2" ]] \
      && pytest_loads
    then
      echo "$h" >"$STAMPS/ros2_tools"
      echo "src:$tools_src" >"$STAMPS/ros2_tools.source"
      log "ROS 2 tools: $tools_src (installed in $VENV)"
    else
      tools_missing "installing $tools_src failed, see above"
    fi
  fi
elif tools_importable && [[ -x "$VENV/bin/ros2" ]] && pytest_loads; then
  log "ROS 2 tools: already installed in $VENV (from $(cat "$STAMPS/ros2_tools.source" 2>/dev/null \
    || echo 'an earlier setup')); no $tools_src/install.sh now"
else
  tools_missing "no sourced /opt/ros/<distro>, no \$VLA_ROS2_PYTHON, no $tools_src/install.sh"
fi

# 5. A reference install of LeRobot 0.4.4's dataset code for the tests (tests/data/lerobot_ref):
#    LeRobot writes datasets the tests read, and reads the datasets this project writes. Its pins
#    (datasets 4, huggingface_hub 0.35, av 15, torch < 2.11) clash with the venv's, so the pinned
#    packages go, without their dependencies, into a folder of their own that the venv's python puts
#    first on PYTHONPATH (with a torchvision stand-in); nothing in the venv changes. ~10 s.
LEROBOT_REQ="$ROOT/tests/data/lerobot_ref/requirements.txt"
LEROBOT_TARGET="$VENV/tools/lerobot044"
h="$(stage_hash "$LEROBOT_REQ")"
if ! stage_done lerobot_ref "$h" || [[ ! -f "$LEROBOT_TARGET/lerobot/datasets/lerobot_dataset.py" ]]
then
  log "installing the LeRobot 0.4.4 reference into $LEROBOT_TARGET (~10 s)"
  rm -rf "$LEROBOT_TARGET.tmp"
  "$PYBIN" -m pip install -q --disable-pip-version-check --no-deps --target "$LEROBOT_TARGET.tmp" \
    -r "$LEROBOT_REQ"
  lr_tmp="$(mktemp -d)"
  (
    cd "$lr_tmp"
    HF_HUB_OFFLINE=1 HF_HOME="$lr_tmp/hf" \
      PYTHONPATH="$LEROBOT_TARGET.tmp:$ROOT/tests/data/lerobot_ref/standin" "$PYBIN" - "$LEROBOT_REQ" <<'PYEOF'
import importlib.metadata as md
import sys

import av
import lerobot.datasets.lerobot_dataset  # noqa: F401

pins = [ln.split("#")[0].strip().split("==") for ln in open(sys.argv[1])]
wrong = {n: (v, md.version(n)) for n, v in (p for p in pins if len(p) == 2) if md.version(n) != v}
assert not wrong, f"pinned vs imported: {wrong}"
assert "libsvtav1" in av.codecs_available, "this av build has no libsvtav1 encoder"
PYEOF
  ) || { rm -rf "$lr_tmp"; log "the LeRobot reference does not import, see above"; exit 1; }
  rm -rf "$lr_tmp" "$LEROBOT_TARGET"
  mv "$LEROBOT_TARGET.tmp" "$LEROBOT_TARGET"
  echo "$h" >"$STAMPS/lerobot_ref"
fi
# 6. A second LeRobot reference, 0.3.3, the last release that writes codebase v2.1 (per-episode
#    parquet and mp4, meta/*.jsonl), for tests/data/test_lerobot_v21_interop.py; installed like
#    stage 5 into a folder of its own. It uses some of the venv's packages as they are (torch,
#    huggingface_hub, av...: see requirements-v21.txt), so it is re-checked when stage 1 changed
#    them. ~10 s.
LEROBOT21_REQ="$ROOT/tests/data/lerobot_ref/requirements-v21.txt"
LEROBOT21_TARGET="$VENV/tools/lerobot033"
h="$(stage_hash "$LEROBOT21_REQ" "$STAMPS/pip")"
if ! stage_done lerobot_ref_v21 "$h" \
  || [[ ! -f "$LEROBOT21_TARGET/lerobot/datasets/lerobot_dataset.py" ]]
then
  log "installing the LeRobot 0.3.3 (v2.1) reference into $LEROBOT21_TARGET (~10 s)"
  rm -rf "$LEROBOT21_TARGET.tmp"
  "$PYBIN" -m pip install -q --disable-pip-version-check --no-deps \
    --target "$LEROBOT21_TARGET.tmp" -r "$LEROBOT21_REQ"
  lr_tmp="$(mktemp -d)"
  (
    cd "$lr_tmp"
    HF_HUB_OFFLINE=1 HF_HOME="$lr_tmp/hf" \
      PYTHONPATH="$LEROBOT21_TARGET.tmp:$ROOT/tests/data/lerobot_ref/standin" "$PYBIN" - \
      "$LEROBOT21_REQ" <<'PYEOF'
import importlib.metadata as md
import sys

import av
import lerobot.datasets.lerobot_dataset as lerobot_dataset

pins = [ln.split("#")[0].strip().split("==") for ln in open(sys.argv[1])]
wrong = {n: (v, md.version(n)) for n, v in (p for p in pins if len(p) == 2) if md.version(n) != v}
assert not wrong, f"pinned vs imported: {wrong}"
assert lerobot_dataset.CODEBASE_VERSION == "v2.1", lerobot_dataset.CODEBASE_VERSION
assert "libsvtav1" in av.codecs_available, "this av build has no libsvtav1 encoder"
PYEOF
  ) || { rm -rf "$lr_tmp"; log "the LeRobot 0.3.3 reference does not import, see above"; exit 1; }
  rm -rf "$lr_tmp" "$LEROBOT21_TARGET"
  mv "$LEROBOT21_TARGET.tmp" "$LEROBOT21_TARGET"
  echo "$h" >"$STAMPS/lerobot_ref_v21"
fi
log "ready (source scripts/env.sh to use it in a shell)"
