"""Reading and writing rosbag2 bags: types, hashes, both storages, atomicity, and bad input."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from rosbags.rosbag2 import StoragePlugin, Writer

from vla_lego.bags import BagError, BagReader, BagWriter, UnknownMessageTypeError, build_typestore
from vla_lego.bags.streams import JointMapper
from vla_lego.bags.typestore import find_msg_dir
from vla_lego.bags.writer import partial_path
from vla_lego.robot import H1_LAYOUT, LayoutMismatchError
from vla_lego.robot import topics as T

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bagfactory import demo_trajectory, write_demo_bag

PROJECT_TYPES = ("ActionChunk", "PolicyStatus", "TaskStatus")


def test_project_types_hash_like_rosidl() -> None:
    """The RIHS01 hashes from the .msg text equal the ones rosidl generated for the build."""
    store = build_typestore()
    share = find_msg_dir("vla_lego_msgs")
    assert share is not None
    for name in PROJECT_TYPES:
        generated = Path(share) / f"{name}.json"
        if not generated.is_file():
            pytest.skip("workspace not built (no rosidl type description JSON)")
        want = json.loads(generated.read_text())["type_hashes"][0]["hash_string"]
        assert store.hash_rihs01(f"vla_lego_msgs/msg/{name}") == want


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_reads_bags_written_directly_by_rosbags(tmp_path: Path, storage: str) -> None:
    bag = write_demo_bag(tmp_path / "demo", storage=storage, duration=2.0)
    with BagReader(bag) as r:
        topics = r.topics
        assert topics[T.JOINT_STATES_TOPIC].count == 100
        assert topics[T.HEAD_CAMERA_TOPIC].msgtype == "sensor_msgs/msg/Image"
        assert topics[T.INSTRUCTION_TOPIC].count == 1
        assert 1.9 < r.duration_s < 2.1
        mapper = JointMapper(H1_LAYOUT, [T.ARM_COMMAND_TOPIC])
        rows = []
        for m in r.messages([T.ARM_COMMAND_TOPIC]):
            idx, vals = mapper.values(m.topic, m.msg)
            row = np.empty(H1_LAYOUT.dim)
            row[idx] = vals
            rows.append((m.log_time_ns, row))
        t0 = r.start_ns
    t, q = rows[7]
    np.testing.assert_allclose(q, demo_trajectory((t - t0) / 1e9 - 0.0), atol=1e-2)


def test_writer_is_atomic_and_opens_in_foxglove_layout(tmp_path: Path) -> None:
    store = build_typestore()
    final = tmp_path / "chunks"
    w = BagWriter(final, storage="mcap", typestore=store).open()
    w.add_topic(T.ACTION_CHUNK_TOPIC, "vla_lego_msgs/msg/ActionChunk")
    Chunk = store.types["vla_lego_msgs/msg/ActionChunk"]
    Header, Time = store.types["std_msgs/msg/Header"], store.types["builtin_interfaces/msg/Time"]
    for i in range(5):
        msg = Chunk(
            header=Header(stamp=Time(sec=i, nanosec=0), frame_id=""),
            joint_names=list(H1_LAYOUT.names),
            dt=0.1,
            horizon=1,
            positions=np.zeros(H1_LAYOUT.dim),
            subtask_text="reach",
            chunk_id=i,
            inference_time=0.01,
        )
        w.write_msg(T.ACTION_CHUNK_TOPIC, (i + 1) * 10**9, msg)
    assert not final.exists() and partial_path(final).is_dir()
    with pytest.raises(BagError):  # an unfinished bag is never read as complete
        BagReader(partial_path(final) / final.name)
    w.close()
    assert not partial_path(final).exists()
    meta = yaml.safe_load((final / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    topic = meta["topics_with_message_count"][0]
    assert topic["topic_metadata"]["type"] == "vla_lego_msgs/msg/ActionChunk"
    assert topic["topic_metadata"]["type_description_hash"].startswith("RIHS01_")
    assert meta["storage_identifier"] == "mcap" and meta["message_count"] == 5
    from mcap.reader import make_reader

    with open(final / meta["relative_file_paths"][0], "rb") as f:
        schemas = make_reader(f).get_summary().schemas.values()
    schema = next(s for s in schemas if s.name == "vla_lego_msgs/msg/ActionChunk")
    assert schema.encoding == "ros2msg" and b"float64[] positions" in schema.data
    with BagReader(final) as r:
        msgs = list(r.messages())
    assert [m.msg.chunk_id for m in msgs] == list(range(5))
    with pytest.raises(FileExistsError):
        BagWriter(final)


def test_aborted_and_stale_writes(tmp_path: Path) -> None:
    final = tmp_path / "x"
    w = BagWriter(final, storage="sqlite3").open()
    w.add_topic("/s", "std_msgs/msg/String")
    w.abort(keep_partial=True)
    assert not final.exists() and partial_path(final).exists()
    with pytest.raises(FileExistsError, match="interrupted"):
        BagWriter(final).open()
    with BagWriter(final, overwrite=True) as w2:
        w2.add_topic("/s", "std_msgs/msg/String")
    assert (final / "metadata.yaml").is_file()
    with (
        pytest.raises(UnknownMessageTypeError, match="nope_msgs/msg/Thing"),
        BagWriter(tmp_path / "y") as w3,
    ):
        w3.add_topic("/t", "nope_msgs/msg/Thing")
    assert not (tmp_path / "y").exists() and not partial_path(tmp_path / "y").exists()


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_truncated_and_corrupt_bags_raise_bag_error(tmp_path: Path, storage: str) -> None:
    src = write_demo_bag(tmp_path / "src", storage=storage, duration=1.0)
    data = next(p for p in src.iterdir() if p.suffix in (".mcap", ".db3"))
    for how in ("truncate", "garbage"):
        bag = tmp_path / f"{how}"
        shutil.copytree(src, bag)
        f = bag / data.name
        size = f.stat().st_size
        if how == "truncate":
            os.truncate(f, size // 2)
        else:  # over record headers: rosbags writes MCAP chunks without CRCs, so a flip inside
            # a payload is only caught where a checksum exists (bags from rosbag2 have them)
            with open(f, "r+b") as fh:
                fh.seek(40 if storage == "mcap" else size // 3)
                fh.write(b"\xde\xad\xbe\xef" * 256)
        with pytest.raises(BagError, match="truncated or corrupt") as e, BagReader(bag) as r:
            for _ in r.messages():
                pass
        assert str(bag) in str(e.value)


def test_missing_paths_and_topics(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        BagReader(tmp_path / "nothing")
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(BagError, match=r"no metadata\.yaml"):
        BagReader(tmp_path / "empty_dir")
    bag = write_demo_bag(tmp_path / "demo", duration=0.5, commands=False)
    with BagReader(bag) as r, pytest.raises(BagError) as e:
        r.require({T.ARM_COMMAND_TOPIC: None, T.JOINT_STATES_TOPIC: "std_msgs/msg/String"})
    msg = str(e.value)
    assert f"missing required topic {T.ARM_COMMAND_TOPIC}" in msg
    assert "sensor_msgs/msg/JointState" in msg and "expected ['std_msgs/msg/String']" in msg


def test_unknown_message_type_in_bag(tmp_path: Path) -> None:
    bag = tmp_path / "unknown"
    with Writer(bag, version=9, storage_plugin=StoragePlugin.SQLITE3) as w:
        conn = w.add_connection(
            "/mystery", "mystery_msgs/msg/Blob", msgdef="", rihs01="RIHS01_" + "0" * 64
        )
        w.write(conn, 1, b"\x00\x01\x00\x00\x05\x00\x00\x00")
    with BagReader(bag) as r:
        assert r.topics["/mystery"].msgtype == "mystery_msgs/msg/Blob"
        with pytest.raises(UnknownMessageTypeError, match="mystery_msgs/msg/Blob"):
            list(r.messages(["/mystery"]))


def test_joint_names_must_fit_the_layout() -> None:
    class Msg:
        def __init__(self, names: list[str]) -> None:
            self.name, self.position = names, np.zeros(len(names))

    m = JointMapper(H1_LAYOUT, ["/a", "/b"])
    m.values("/a", Msg(list(H1_LAYOUT.arm_names)))
    with pytest.raises(LayoutMismatchError, match="left_hand_pinky"):
        m.check_complete()  # the hands never came
    with pytest.raises(LayoutMismatchError, match=r"unexpected \['waist_joint'\]"):
        m.values("/b", Msg(["waist_joint", *H1_LAYOUT.hand_names]))
    with pytest.raises(LayoutMismatchError, match="changed"):
        m.values("/a", Msg(list(reversed(H1_LAYOUT.arm_names))))
