"""ROS 2 policy node for VLA-LEGO (ROS wiring only; algorithms live in non-ROS modules)."""
