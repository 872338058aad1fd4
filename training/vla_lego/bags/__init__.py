"""rosbag2 files without ROS: read, write, type definitions, and bags -> datasets.

* :mod:`~vla_lego.bags.reader` / :mod:`~vla_lego.bags.writer` — MCAP/sqlite3 bags with the
  ``rosbags`` library (``rosbag2_py`` does not exist in the pip environment).
* :mod:`~vla_lego.bags.bag2dataset` (``vla-bag2dataset``) — demonstration bags -> training dataset.
* :mod:`~vla_lego.bags.episode` — a direct sim episode written as the graph's bag.

Recording and playing a live graph: :mod:`vla_lego.live`; evaluating a policy on a bag
(``vla-replay-eval``): :mod:`vla_lego.eval.replay_eval`.
"""

from vla_lego.bags.reader import BagMessage, BagReader, TopicSummary, stamp_ns
from vla_lego.bags.typestore import BagError, UnknownMessageTypeError, build_typestore
from vla_lego.bags.writer import BagWriter

__all__ = [
    "BagError",
    "BagMessage",
    "BagReader",
    "BagWriter",
    "TopicSummary",
    "UnknownMessageTypeError",
    "build_typestore",
    "stamp_ns",
]
