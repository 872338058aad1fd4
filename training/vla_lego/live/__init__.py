"""Tools that talk to a live ROS 2 graph (the only part of ``vla_lego`` besides the demo's ROS
client that needs rclpy, imported inside functions):

* :mod:`~vla_lego.live.record` (``vla-record``) — generic raw recording into MCAP/sqlite3 bags.
* :mod:`~vla_lego.live.play` — publish a bag into a running graph (``vla-replay-eval --live``).
* :mod:`~vla_lego.live.rosgraph` — message classes, QoS translation, a private rclpy context.
"""
