# Source this file: `source scripts/env.sh`. Activates .venv and the colcon workspace and keeps
# DDS on this machine unless the caller chose otherwise.
_VLA_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)"
export VIRTUAL_ENV="${VLA_VENV:-$_VLA_ROOT/.venv}"
export PATH="$VIRTUAL_ENV/bin:$PATH"
export AMENT_PREFIX_PATH="$VIRTUAL_ENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
export CMAKE_PREFIX_PATH="$VIRTUAL_ENV${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
if [ -f "$_VLA_ROOT/ros2_ws/install/setup.bash" ]; then
  # shellcheck disable=SC1091
  . "$_VLA_ROOT/ros2_ws/install/setup.bash"
fi
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-42}"
export RMW_IMPLEMENTATION="${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export MUJOCO_GL="${MUJOCO_GL:-egl}"
export VLA_LEGO_ROOT="$_VLA_ROOT"
unset _VLA_ROOT
