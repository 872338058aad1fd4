"""End-to-end demo: demonstrations -> training -> export -> ROS 2 stack on the sim H1 -> report."""
