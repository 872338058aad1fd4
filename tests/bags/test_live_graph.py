"""Record a live ROS 2 graph (sensor publisher + the real policy node), replay-eval the same policy
on that bag, and play the bag back into a graph. Needs the built workspace (scripts/setup.sh)."""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rosbags.interfaces import QosReliability
from rosutil import ChildProcess, spun_node, wait_until
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import String

from vla_lego.bags import BagReader
from vla_lego.bags.writer import partial_path
from vla_lego.eval import replay_eval
from vla_lego.live.record import record
from vla_lego.robot import topics as T

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # replay_policy for the in-process replay
POLICY = "python:replay_policy:ImageTimePolicy"
# The node runs with this file (re-planning faster than the deployed 0.5 s gives more chunks to
# check); the replay must find these settings in the bag, where the node published them.
NODE_PARAMS = "/**:\n  ros__parameters:\n    min_inference_period: 0.2\n"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def env(ros_env: dict[str, str]) -> dict[str, str]:
    e = dict(ros_env)
    e["PYTHONPATH"] = f"{HERE}:{e.get('PYTHONPATH', '')}"
    return e


@pytest.fixture(scope="module")
def recorded(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Bags of one live session: by duration, by SIGTERM, by message limit."""
    root = tmp_path_factory.mktemp("live")
    (root / "node.yaml").write_text(NODE_PARAMS)
    graph = ChildProcess(
        [
            sys.executable,
            str(HERE / "graph_child.py"),
            "--duration",
            "60",
            "--brightness-step",
            "30",
        ],
        env,
    )
    node = ChildProcess(
        [
            sys.executable,
            "-m",
            "vla_lego_policy.policy_node",
            "--ros-args",
            "-p",
            f"policy:={POLICY}",
            "--params-file",
            str(root / "node.yaml"),
        ],
        env,
    )
    bags = {k: root / k for k in ("duration", "sigterm", "limit")}
    try:
        assert graph.wait_for_line("graph-child: publishing", 60), graph.output
        assert node.wait_for_line("policy node ready", 90), node.output
        with spun_node("bag_test_probe") as probe:  # record once the node is executing
            commands = probe.collect(JointState, T.ARM_COMMAND_TOPIC)
            assert wait_until(lambda: len(commands) > 20, 60), node.output
        rec = [sys.executable, "-m", "vla_lego.live.record", "-q"]
        # long enough that every topic is discovered and delivers even on a loaded 2-core machine
        by_time = ChildProcess([*rec, str(bags["duration"]), "--duration", "8"], env)
        assert by_time.proc.wait(90) == 0, by_time.output
        by_signal = ChildProcess([*rec, str(bags["sigterm"]), "-s", "sqlite3"], env)
        for topic in (T.JOINT_STATES_TOPIC, T.ACTION_CHUNK_TOPIC):
            assert by_signal.wait_for_line(f"subscribed {topic}", 60), by_signal.output
        time.sleep(1.5)
        assert not bags["sigterm"].exists(), "a bag must not look complete while recording"
        assert partial_path(bags["sigterm"]).is_dir()
        by_signal.proc.send_signal(signal.SIGTERM)
        assert by_signal.proc.wait(30) == 0, by_signal.output
        by_limit = ChildProcess(
            [*rec, str(bags["limit"]), "--topics", T.JOINT_STATES_TOPIC, "--max-messages", "30"],
            env,
        )
        assert by_limit.proc.wait(60) == 0, by_limit.output
    finally:
        node.stop()
        graph.stop()
    bags["params"] = root / "node.yaml"
    return bags


def test_recorder_finalises_on_duration_sigterm_and_limit(recorded: dict[str, Path]) -> None:
    for name, bag in ((k, recorded[k]) for k in ("duration", "sigterm", "limit")):
        assert (bag / "metadata.yaml").is_file(), name
        assert not partial_path(bag).exists(), name
    with BagReader(recorded["duration"]) as r:
        topics = r.topics
        for t in (
            T.HEAD_CAMERA_TOPIC,
            T.JOINT_STATES_TOPIC,
            T.ARM_COMMAND_TOPIC,
            T.ACTION_CHUNK_TOPIC,
            T.INSTRUCTION_TOPIC,
            T.POLICY_STATUS_TOPIC,
        ):
            assert topics[t].count > 0, t
        assert topics[T.ACTION_CHUNK_TOPIC].msgtype == "vla_lego_msgs/msg/ActionChunk"
        # --duration counts from the recorder start; discovery of the topics takes part of it
        assert 1.5 < r.duration_s < 9.0
    with BagReader(recorded["sigterm"]) as r:
        assert r.topics[T.JOINT_STATES_TOPIC].count > 20
        assert next(iter(r.messages([T.ACTION_CHUNK_TOPIC]))).msg.horizon == 10
    with BagReader(recorded["limit"]) as r:
        assert list(r.topics) == [T.JOINT_STATES_TOPIC]
        assert r.message_count == 30


@contextlib.contextmanager
def _recording(bag: Path, topic: str, **kwargs: Any) -> Iterator[dict[str, str]]:
    """``record`` of ``topic`` in a thread while the block runs; ``out["path"]`` afterwards."""
    stop, out = threading.Event(), {}

    def run() -> None:
        out["path"] = record(str(bag), topics=[topic], stop=stop, progress=False, **kwargs)

    recorder = threading.Thread(target=run)
    recorder.start()
    try:
        yield out
    finally:
        stop.set()
        recorder.join(15)
    assert not recorder.is_alive()


def test_recorder_waits_for_a_late_publisher_and_takes_its_qos(tmp_path: Path) -> None:
    """A topic first seen with only a subscriber (a node waiting for its input) is recorded once
    its publisher appears, with that publisher's QoS: a best-effort source would never match a
    reliable subscription made up before it existed."""
    from rclpy.qos import qos_profile_sensor_data

    topic = "/vla_test/late_best_effort"
    with spun_node("late_publisher") as n:
        n.node.create_subscription(String, topic, lambda _m: None, 10)  # subscriber only
        with _recording(tmp_path / "bag", topic) as out:
            time.sleep(1.0)  # several discovery polls see the topic without a publisher
            pub = n.node.create_publisher(String, topic, qos_profile_sensor_data)
            for i in range(100):
                pub.publish(String(data=str(i)))
                time.sleep(0.02)
    with BagReader(Path(out["path"])) as r:
        summary = r.topics[topic]
        assert summary.count > 50
        assert [q.reliability for q in summary.qos] == [QosReliability.BEST_EFFORT]


def test_recorder_on_sim_time_logs_by_clock(tmp_path: Path) -> None:
    """`--use-sim-time`: log times follow /clock, the clock of the graph's header stamps (a
    wall-clock recorder would put them ~1.7e9 s apart and replay-eval could not use the bag)."""
    from builtin_interfaces.msg import Time
    from rosgraph_msgs.msg import Clock

    topic = "/vla_test/sim_time_topic"
    with spun_node("sim_clock") as n:
        clock = n.node.create_publisher(Clock, "/clock", 10)
        pub = n.node.create_publisher(String, topic, 10)
        with _recording(tmp_path / "bag", topic, use_sim_time=True) as out:
            for i in range(150):
                t = 5.0 + 0.02 * i
                clock.publish(Clock(clock=Time(sec=int(t), nanosec=int((t % 1) * 1e9))))
                if i >= 50:  # after the recorder has seen /clock
                    pub.publish(String(data=str(i)))
                time.sleep(0.02)
    with BagReader(Path(out["path"])) as r:
        assert r.topics[topic].count > 20
        assert 5e9 <= r.start_ns <= 9e9, r.start_ns  # sim seconds, not wall-clock time


def _run_replay(bag: Path, out: Path, *extra: str) -> dict:
    rc = replay_eval.main([str(bag), "--policy", POLICY, "--out", str(out), "-q", *extra])
    assert rc == 0
    return json.loads((out / "metrics.json").read_text())["runs"][0]


def test_replay_reproduces_recorded_commands(recorded: dict[str, Path], tmp_path: Path) -> None:
    # No --params: the settings the node published, recorded in the bag.
    good = _run_replay(recorded["duration"], tmp_path / "same")
    md = (tmp_path / "same" / "report.md").read_text()
    assert f"the bag's {T.POLICY_PARAMS_TOPIC}" in md
    assert good["timing"] == "recorded"
    chunks, stats, tr = good["chunks"], good["stats"], good["tracking"]
    assert chunks["compared_chunks"] >= 20
    assert chunks["rmse"] < 1e-5  # the node's own chunks, recomputed from the bag's observations
    assert stats["observation_mismatch"] == 0
    # A live recorder may miss a big image on a busy machine; a chunk made from a frame the bag
    # never got cannot be recomputed (counted, not hidden). Seen once in three CI runs.
    assert stats["not_reproduced"] <= max(1, chunks["compared_chunks"] // 20)
    assert tr["compared_ticks"] > 100
    # Most ticks match exactly; a loaded machine delays a few hand-overs in the node (chunk
    # arrival is known only from the recorder's receive time), which the RMSE bound allows.
    assert tr["match_fraction"]["arm"] > 0.5 and tr["median_abs"]["arm"] < 1e-3, tr
    assert tr["rmse"]["arm"] < 0.05 and tr["rmse"]["hand"] < 0.02, tr
    # A policy that weighs the image differently must not match: the comparison can fail.
    other = _run_replay(
        recorded["duration"],
        tmp_path / "other",
        "--params",
        str(recorded["params"]),
        "--policy-kwargs",
        '{"gain": 0.1}',
    )
    assert other["chunks"]["rmse"] > 0.01
    assert other["tracking"]["median_abs"]["arm"] > 0.01
    assert other["tracking"]["rmse"]["arm"] > 2 * tr["rmse"]["arm"]
    for name in ("report.md", "report.html", "joints_recorded.png", "errors_recorded.png"):
        assert (tmp_path / "same" / name).stat().st_size > 1000, name


def test_live_play_publishes_inputs_at_recorded_rate(
    recorded: dict[str, Path], env: dict[str, str]
) -> None:
    bag = recorded["duration"]
    with BagReader(bag) as r:
        n_js = r.topics[T.JOINT_STATES_TOPIC].count
        duration = r.duration_s
    with spun_node("bag_play_probe") as probe:
        joints = probe.collect(JointState, T.JOINT_STATES_TOPIC, 500)
        images = probe.collect(Image, T.HEAD_CAMERA_TOPIC, 100)
        commands = probe.collect(JointState, T.ARM_COMMAND_TOPIC, 100)
        probe.collect(String, T.INSTRUCTION_TOPIC, 10)
        player = ChildProcess(
            [
                sys.executable,
                "-m",
                "vla_lego.eval.replay_eval",
                "--live",
                str(bag),
                "--restamp",
                "-q",
                "--start-delay",
                "0.2",
                "--wait-for-subscribers",
                "30",
            ],
            env,
        )
        assert player.wait_for_line("publishing", 60), player.output
        t0 = time.monotonic()
        assert player.proc.wait(60) == 0, player.output
        elapsed = time.monotonic() - t0
        assert wait_until(lambda: len(joints) >= 0.95 * n_js, 5.0), (len(joints), n_js)
    assert elapsed >= duration * 0.9  # paced by the recorded times, not as fast as possible
    assert len(images) > 0 and not commands  # the policy's outputs are not replayed by default
    stamp = joints[-1].header.stamp
    assert abs(stamp.sec + stamp.nanosec * 1e-9 - time.time()) < 30  # restamped to now
    names = list(joints[0].name)
    assert len(names) == 20 and np.isfinite(joints[0].position).all()
