"""rosbag2 tools: record a live graph, replay bags for offline evaluation, bags -> datasets.

* :mod:`~vla_lego.bags.record` (``vla-record``) — generic raw recording into MCAP/sqlite3 bags.
* :mod:`~vla_lego.bags.replay_eval` (``vla-replay-eval``) — deterministic offline evaluation of a
  policy on a bag through the node's runtime; ``--live`` publishes a bag into a running graph.
* :mod:`~vla_lego.bags.bag2dataset` (``vla-bag2dataset``) — demonstration bags -> training dataset.

Reading and writing use the ``rosbags`` library (``rosbag2_py`` does not exist in the pip
environment); only recording and live play need rclpy.
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
