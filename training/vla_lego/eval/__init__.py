"""Evaluating a policy through the robot's controller.

* :mod:`~vla_lego.eval.sim` — closed loop in the MuJoCo sim (``python -m vla_lego.eval.sim``).
* :mod:`~vla_lego.eval.replay` / :mod:`~vla_lego.eval.replay_eval` (``vla-replay-eval``) — offline
  on a recorded bag, with :mod:`~vla_lego.eval.replay_metrics` and
  :mod:`~vla_lego.eval.replay_report`.
* :mod:`~vla_lego.eval.types`, :mod:`~vla_lego.eval.report` — results and the sim report folder.
"""
