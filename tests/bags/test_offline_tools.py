"""Offline bag tools on bags written directly with rosbags: replay-eval with simulated timing and
its report, bag2dataset into the vla_lego.data format, and the CLIs' bad-input behaviour."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vla_lego.bags import bag2dataset
from vla_lego.bags.bag2dataset import ConvertConfig, convert
from vla_lego.eval import replay_eval
from vla_lego.eval.replay import ReplayConfig, replay
from vla_lego.robot import H1_LAYOUT, LayoutMismatchError
from vla_lego.robot import topics as T

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bagfactory import T0_NS, demo_trajectory, write_demo_bag  # noqa: E402
from replay_policy import ImageTimePolicy  # noqa: E402

POLICY = "python:replay_policy:ImageTimePolicy"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_demo_bag(tmp_path_factory.mktemp("demo") / "demo", storage="mcap", duration=3.0)


def test_simulated_replay_is_deterministic_and_delay_matters(demo: Path) -> None:
    # Back-to-back inference, so that the delay changes how many chunks there are.
    cfg = ReplayConfig({"min_inference_period": 0.0}, cameras={"head": T.HEAD_CAMERA_TOPIC})
    runs = [replay(demo, ImageTimePolicy(), cfg, progress=False) for _ in range(2)]
    np.testing.assert_array_equal(runs[0].predicted, runs[1].predicted)
    assert runs[0].timing == "simulated" and np.isfinite(runs[0].predicted[-1]).all()
    slow = replay(demo, ImageTimePolicy(), replace(cfg, inference_delay=0.15), progress=False)
    # Later chunks: fewer of them, actions in the past skipped, different commands.
    assert len(slow.chunks) < len(runs[0].chunks)
    assert (
        slow.stats["scheduler"]["skipped_actions"] > runs[0].stats["scheduler"]["skipped_actions"]
    )
    assert np.nanmax(np.abs(slow.predicted - runs[0].predicted)) > 1e-3
    # Every command honours the node's safety limits.
    lim = cfg.safety_limits()
    ok = np.isfinite(slow.predicted).all(axis=1)
    assert np.all(slow.predicted[ok] >= lim.lower - 1e-9) and np.all(
        slow.predicted[ok] <= lim.upper + 1e-9
    )
    step = np.abs(np.diff(slow.predicted[ok], axis=0))
    assert np.all(step <= lim.max_velocity / cfg.control_rate + 1e-6)


def test_report_folder_with_plots(demo: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    rc = replay_eval.main(
        [str(demo), "--policy", POLICY, "--out", str(out), "-q", "--inference-delay", "0", "0.1"]
    )
    assert rc == 0
    names = {p.name for p in out.iterdir()}
    assert {"report.md", "report.html", "metrics.json", "delay_sweep.png"} <= names
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) == 5
    for png in pngs:
        img = np.asarray(Image.open(png).convert("L"), dtype=float)
        assert img.shape[0] > 200 and img.std() > 5, png  # drawn, not blank
    md = (out / "report.md").read_text()
    assert "| simulated delay 0.1 s |" in md and "left_shoulder_pitch_joint" in md
    runs = json.loads((out / "metrics.json").read_text())["runs"]
    assert [r["inference_delay"] for r in runs] == [0.0, 0.1]
    assert runs[0]["tracking"]["compared_ticks"] > 50
    assert not list(tmp_path.glob(".*partial*"))


def _params_topic(text: str):  # type: ignore[no-untyped-def]
    """A bag ``extra`` writing one latched params message with ``text``."""

    def extra(w, ts):  # type: ignore[no-untyped-def]
        conn = w.add_connection(T.POLICY_PARAMS_TOPIC, "std_msgs/msg/String", typestore=ts)
        msg = ts.types["std_msgs/msg/String"](data=text)
        w.write(conn, T0_NS, ts.serialize_cdr(msg, conn.msgtype))

    return extra


def test_replay_settings_come_from_the_bag_else_the_file_with_a_warning(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # No params topic: a warning, and the report names the fallback.
    assert replay_eval.main([str(demo), "--policy", POLICY, "-o", str(tmp_path / "a"), "-q"]) == 0
    err = capsys.readouterr().err
    assert f"has no {T.POLICY_PARAMS_TOPIC}" in err and "warning" in err
    md = (tmp_path / "a/report.md").read_text()
    assert "vla_lego_policy/config/policy.yaml" in md or "vla_lego.runtime.policy_params" in md
    # Recorded params: used without --params (a blend the defaults do not have).
    text = "/**:\n  ros__parameters:\n    blend: none\n    min_inference_period: 0.0\n"
    bag = write_demo_bag(tmp_path / "p", duration=1.5, extra=_params_topic(text))
    assert replay_eval.main([str(bag), "--policy", POLICY, "-o", str(tmp_path / "b"), "-q"]) == 0
    assert "warning" not in capsys.readouterr().err
    md = (tmp_path / "b/report.md").read_text()
    assert f"the bag's {T.POLICY_PARAMS_TOPIC}" in md and "none (0.2 s)" in md
    # --params wins over the bag.
    f = tmp_path / "mine.yaml"
    f.write_text("/**:\n  ros__parameters:\n    blend: ensemble\n")
    out = tmp_path / "c"
    assert (
        replay_eval.main([str(bag), "--policy", POLICY, "-o", str(out), "-q", "--params", str(f)])
        == 0
    )
    assert "ensemble" in (out / "report.md").read_text()
    # Unknown keys in the recorded params: an error naming them, no report.
    bad = write_demo_bag(
        tmp_path / "bad",
        duration=1.0,
        extra=_params_topic("/**:\n  ros__parameters:\n    max_arm_velocity: 3.0\n"),
    )
    assert replay_eval.main([str(bad), "--policy", POLICY, "-o", str(tmp_path / "d"), "-q"]) == 2
    assert "unknown policy_node parameters ['max_arm_velocity']" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def test_replay_of_a_bag_on_two_clocks_fails_instead_of_reporting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A sim-time graph recorded with a wall-clock recorder: every input is stale by log time;
    the report would compare the hold pose with the recording as if it were the policy."""
    bag = write_demo_bag(tmp_path / "sim", duration=2.0, stamp_offset_ns=5 * 10**9 - T0_NS)
    out = tmp_path / "report"
    assert replay_eval.main([str(bag), "--policy", POLICY, "--out", str(out), "-q"]) == 2
    assert "use-sim-time" in capsys.readouterr().err and not out.exists()


def test_bag2dataset_takes_the_latest_stamped_frame_when_frames_arrive_out_of_order(
    tmp_path: Path,
) -> None:
    """A frame delivered late (log time after newer frames) must not be taken for the newest."""
    from bagfactory import image

    from vla_lego.bags.bag2dataset import _plan, _scan
    from vla_lego.bags.reader import BagReader

    def late_frame(w, ts) -> None:  # type: ignore[no-untyped-def]
        conn = next(c for c in w.connections if c.topic == T.HEAD_CAMERA_TOPIC)
        stamp = T0_NS + 500_000_000  # taken at 0.5 s, delivered at 1.9 s
        w.write(conn, T0_NS + 1_900_000_000, ts.serialize_cdr(image(ts, stamp, 255), conn.msgtype))

    bag = write_demo_bag(tmp_path / "late", duration=2.0, extra=late_frame)
    cfg = ConvertConfig(fps=10, instruction="go")
    with BagReader(bag) as reader:
        scan = _scan(reader, cfg, {"head": T.HEAD_CAMERA_TOPIC}, progress=False)
    stamps, logs = scan.frame_stamps["head"], scan.frame_logs["head"]
    assert np.all(np.diff(stamps) >= 0)
    late = int(np.flatnonzero(logs == T0_NS + 1_900_000_000)[0])
    assert stamps[late] == pytest.approx((T0_NS + 500_000_000) / 1e9)  # sorted by stamp
    episodes, _ = _plan(scan, cfg)
    for ep in episodes:
        idx = ep.frames["head"]
        chosen = stamps[idx]
        assert np.all(chosen <= ep.times + 1e-9)
        # the newest frame stamped at or before each grid time, never an older one
        expected = stamps[np.searchsorted(stamps, ep.times, side="right") - 1]
        np.testing.assert_array_equal(chosen, expected)


def test_replay_eval_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    no_instr = write_demo_bag(tmp_path / "no_instr", duration=1.0, instruction=None)
    out = tmp_path / "r1"
    assert replay_eval.main([str(no_instr), "--policy", POLICY, "--out", str(out), "-q"]) == 2
    assert f"missing required topic {T.INSTRUCTION_TOPIC}" in capsys.readouterr().err
    assert not out.exists()
    wrong = [*H1_LAYOUT.names[:-1], "right_hand_sixth_finger"]
    bad = write_demo_bag(tmp_path / "bad_names", duration=1.0, joint_names=wrong)
    assert replay_eval.main([str(bad), "--policy", POLICY, "--out", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert "right_hand_sixth_finger" in err and str(bad) in err
    assert not out.exists()
    assert replay_eval.main([str(tmp_path / "nope"), "--policy", POLICY, "-q"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_bag2dataset_both_storages_split_and_resampled(tmp_path: Path) -> None:
    from vla_lego.data import LegoDataset

    a = write_demo_bag(tmp_path / "a", storage="mcap", duration=2.0)

    def second_task(w, ts):  # an instruction change 1 s into bag b
        conn = next(c for c in w.connections if c.topic == T.INSTRUCTION_TOPIC)
        msg = ts.types["std_msgs/msg/String"](data="hand the brick over")
        w.write(conn, T0_NS + 1_000_000_000, ts.serialize_cdr(msg, conn.msgtype))

    b = write_demo_bag(
        tmp_path / "b", storage="sqlite3", duration=2.0, split_hands=True, extra=second_task
    )
    out = tmp_path / "ds"
    cfg = ConvertConfig(fps=10, state_topics=(T.JOINT_STATES_TOPIC,), image_size=(32, 32))
    s1 = convert([a], out, cfg, progress=False)
    assert s1.episodes == 1 and s1.frames >= 19
    cfg2 = ConvertConfig(
        fps=10, state_topics=(T.JOINT_STATES_TOPIC, "/h1/hand_states"), image_size=(32, 32)
    )
    s2 = convert([b], tmp_path / "ds_b", cfg2, progress=False)
    assert s2.episodes == 2 and set(s2.tasks) == {
        "stack the red brick on the blue brick",
        "hand the brick over",
    }
    ds = LegoDataset(tmp_path / "ds_b", horizon=4)
    assert ds.fps == 10 and ds.camera_names == ["head"]
    first = ds[0]
    assert first["images"].shape == (1, 32, 32, 3) and first["actions"].shape == (4, 20)
    # Resampling: frame k of episode 0 holds the command at its grid time (linear interpolation).
    k = 5
    t_k = 0.003 + k / 10  # the grid starts once every stream has begun (commands, at 3 ms)
    frame = ds[k]
    np.testing.assert_allclose(frame["actions"][0], demo_trajectory(t_k), atol=1e-3)
    np.testing.assert_allclose(frame["state"], demo_trajectory(t_k - 0.05), atol=1e-3)
    assert ds[len(ds) - 1]["instruction"] == "hand the brick over"
    assert np.isfinite(ds.stats["state"]["std"]).all()
    # The same bag into a video dataset (--video): same frames up to codec error.
    import dataclasses

    sv = convert([b], tmp_path / "ds_v", dataclasses.replace(cfg2, video=True), progress=False)
    dv = LegoDataset(sv.path, horizon=4)
    assert dv.source.cameras["observation.images.head"] == "video" and len(dv) == len(ds)
    np.testing.assert_array_equal(dv.actions, ds.actions)
    err = max(np.abs(dv[i]["images"].astype(int) - ds[i]["images"]).mean() for i in range(len(ds)))
    assert err < 8.0, err


def test_compressed_camera_bags(tmp_path: Path) -> None:
    from vla_lego.data import LegoDataset

    bag = write_demo_bag(tmp_path / "png", duration=1.5, compressed=True)
    s = convert([bag], tmp_path / "ds", ConvertConfig(), progress=False)
    ds = LegoDataset(s.path, horizon=2)
    assert ds.camera_names == ["head"] and ds[0]["images"].shape == (1, 24, 32, 3)
    assert int(ds[0]["images"][0, 0, 0, 0]) == 40  # PNG is lossless: the published value
    cfg = ReplayConfig(cameras={"head": T.HEAD_CAMERA_TOPIC + "/compressed"})
    res = replay(bag, ImageTimePolicy(), cfg, progress=False)
    assert res.chunks and res.stats["rejected_inputs"]["image"] == 0


def test_bag2dataset_bad_input_leaves_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = write_demo_bag(tmp_path / "good", duration=1.0)
    split = write_demo_bag(tmp_path / "split", duration=1.0, split_hands=True)
    out = tmp_path / "ds"
    # The second bag lacks the hand joints on /h1/joint_states: nothing may be written.
    with pytest.raises(LayoutMismatchError, match=f"bag {split}.*left_hand_pinky"):
        convert([good, split], out, ConvertConfig(), progress=False)
    assert not out.exists() and not list(tmp_path.glob(".ds*"))
    assert bag2dataset.main([str(good), str(tmp_path / "missing"), "-o", str(out), "-q"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert bag2dataset.main([str(good), "-o", str(out), "-q", "--action-topics", "/nope"]) == 2
    assert "missing required topic /nope" in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob(".ds*"))


@pytest.mark.slow
def test_bag2dataset_output_trains_and_the_model_replays(tmp_path: Path) -> None:
    """Bags -> dataset -> a few debug-trainer steps -> the trained EO-1 policy in replay-eval."""
    from vla_lego.train.api import run

    bags = [
        write_demo_bag(
            tmp_path / f"b{i}", duration=2.0, t0_ns=T0_NS + i * 10**10, image_size=(64, 64)
        )
        for i in range(2)
    ]
    ds = tmp_path / "ds"
    assert bag2dataset.main([*map(str, bags), "-o", str(ds), "--image-size", "56", "56", "-q"]) == 0
    policy_dir = run(
        [
            "trainer=debug",
            "model=tiny",
            "data=sim",
            f"data.path={ds}",
            "logging=disabled",
            "trainer.max_steps=2",
            "trainer.validation.every_n_steps=2",
            "trainer.checkpoint.every_n_steps=2",
            f"paths.root={tmp_path / 'run'}",
        ]
    )
    out = tmp_path / "report"
    rc = replay_eval.main(
        [str(bags[0]), "--policy", f"torch:{policy_dir}", "--seed", "0", "--out", str(out), "-q"]
    )
    assert rc == 0
    run0 = json.loads((out / "metrics.json").read_text())["runs"][0]
    assert run0["stats"]["accepted_chunks"] > 0 and not run0["stats"]["inference_errors"]
    assert run0["tracking"]["compared_ticks"] > 0
    # backend options reach the loader (an option the torch backend does not take is refused)
    spec = ["--policy", f"torch:{policy_dir}", "--seed", "0", "-q", "--overwrite"]
    ok = [*spec, "--out", str(out), "--backend-options", '{"cuda_graphs": false}']
    assert replay_eval.main([str(bags[0]), *ok]) == 0
    bad = [*spec, "--out", str(tmp_path / "r2"), "--backend-options", '{"spin": "never"}']
    assert replay_eval.main([str(bags[0]), *bad]) == 2


def test_play_topic_selection(tmp_path: Path) -> None:
    """Named topics are played even when they are among the default exclusions (the policy's
    outputs); the default selection leaves those out; a bag with nothing left is refused."""
    from vla_lego.bags.reader import BagReader
    from vla_lego.live.play import PlayOptions, _selected

    bag = write_demo_bag(tmp_path / "b", duration=0.5)
    with BagReader(bag) as reader:
        assert _selected(reader, PlayOptions(topics=(T.ARM_COMMAND_TOPIC,))) == [
            T.ARM_COMMAND_TOPIC
        ]
        default = _selected(reader, PlayOptions())
        assert T.ARM_COMMAND_TOPIC not in default and T.JOINT_STATES_TOPIC in default
        with pytest.raises(ValueError, match="nothing to play"):
            _selected(reader, PlayOptions(exclude=tuple(reader.topics)))


def test_camera_items_parse_name_equals_topic() -> None:
    items = ["head=/h1/camera/head/image_raw", "wrist=/c/w/compressed"]
    assert T.parse_camera_items(items) == {"head": T.HEAD_CAMERA_TOPIC, "wrist": "/c/w/compressed"}
    for bad in ("head", "=/t", "head=topic"):
        with pytest.raises(ValueError, match="expects NAME=/topic"):
            T.parse_camera_items([bad])
