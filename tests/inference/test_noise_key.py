"""The noise of an observation does not depend on how its float stamp was computed."""

from __future__ import annotations

import numpy as np

from vla_lego.inference.engine import _stamp_key, observation_noise


def test_stamps_one_ulp_apart_get_the_same_noise_key() -> None:
    rng = np.random.default_rng(7)
    sec = rng.integers(1_700_000_000, 1_900_000_000, 2000)
    nsec = rng.integers(0, 10**9, 2000)
    # The node's header arithmetic and a bag reader's integer nanoseconds / 1e9.
    node = [int(s) + int(n) * 1e-9 for s, n in zip(sec, nsec, strict=True)]
    bag = [(int(s) * 10**9 + int(n)) / 1e9 for s, n in zip(sec, nsec, strict=True)]
    assert sum(a != b for a, b in zip(node, bag, strict=True)) > 100  # the paths do differ
    differ = sum(_stamp_key(a) != _stamp_key(b) for a, b in zip(node, bag, strict=True))
    assert differ <= 2  # ~0.02 % expected; keyed by µs about a fifth of them differed


def test_noise_depends_on_seed_stamp_and_repeat() -> None:
    shape = (1, 4, 3)
    base = observation_noise(0, 100.0, 0, shape)
    np.testing.assert_array_equal(base, observation_noise(0, 100.0002, 0, shape))  # same ms
    for other in (
        observation_noise(1, 100.0, 0, shape),
        observation_noise(0, 100.002, 0, shape),
        observation_noise(0, 100.0, 1, shape),
    ):
        assert np.abs(other - base).max() > 0.1
