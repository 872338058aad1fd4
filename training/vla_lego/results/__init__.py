"""The results run (``python -m vla_lego.results``): issue #17's measurements, stage by stage."""
