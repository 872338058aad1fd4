"""Evaluation: closed-loop in the MuJoCo sim (:mod:`vla_lego.eval.sim`)."""
