"""Unitree H1 bringup: bridge, simulated H1, camera node, launch supervisor."""
