"""One table owns the policy node's settings: policy.yaml, the ROS declarations and the runtime
dataclasses all come from vla_lego.runtime.policy_params."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from vla_lego.robot import topics as T
from vla_lego.runtime import ControllerConfig, SchedulerConfig, SyncConfig
from vla_lego.runtime.build import build_controller, camera_map, node_values
from vla_lego.runtime.params import Setting, SettingsTable, read_params_file
from vla_lego.runtime.policy_params import NODE_NAMES, POLICY_PARAMS, params_yaml
from vla_lego.runtime.scripted import SinePolicy

PKG = Path(__file__).resolve().parents[2] / "ros2_ws/src/vla_lego_policy"
POLICY_YAML = PKG / "config/policy.yaml"


def test_policy_yaml_is_the_generated_file() -> None:
    assert POLICY_YAML.read_text() == params_yaml(), (
        "config/policy.yaml is out of date: python -m vla_lego.runtime params-yaml "
        "vla_lego.runtime.policy_params --write ros2_ws/src/vla_lego_policy/config/policy.yaml"
    )


def test_policy_yaml_reads_back_as_the_table_defaults() -> None:
    raw = read_params_file(POLICY_YAML, NODE_NAMES)
    assert set(raw) == set(POLICY_PARAMS.names)
    assert node_values([POLICY_YAML]) == POLICY_PARAMS.defaults()


def test_topic_defaults_are_the_project_topics() -> None:
    d = POLICY_PARAMS.defaults()
    assert d["camera_topics"] == (T.HEAD_CAMERA_TOPIC,)
    assert d["joint_states_topic"] == T.JOINT_STATES_TOPIC
    assert d["command_topic"] == T.ARM_COMMAND_TOPIC
    assert d["instruction_topic"] == T.INSTRUCTION_TOPIC
    assert d["action_chunk_topic"] == T.ACTION_CHUNK_TOPIC
    assert d["status_topic"] == T.POLICY_STATUS_TOPIC
    assert d["set_task_service"] == T.SET_TASK_SERVICE
    assert camera_map(d) == {"head": T.HEAD_CAMERA_TOPIC}


def test_runtime_dataclass_defaults_are_the_table_defaults() -> None:
    d = POLICY_PARAMS.defaults()
    c, s, y = ControllerConfig(), SchedulerConfig(), SyncConfig(("head",))
    assert (c.max_inference_latency, c.min_inference_period) == (
        d["max_inference_latency"],
        d["min_inference_period"],
    )
    assert c.inference_nice == d["inference_nice"]
    assert c.hold_relatch_distance == d["hold_relatch_distance"]
    assert c.max_consecutive_failures == d["max_consecutive_failures"]
    assert (s.blend, s.blend_time, s.ensemble_decay) == (
        d["blend"],
        d["blend_time"],
        d["ensemble_decay"],
    )
    assert (y.max_age, y.max_skew, y.max_future) == (
        d["max_input_age"],
        d["max_time_skew"],
        d["max_future_stamp"],
    )


def test_ranges_are_enforced_by_the_table_everywhere() -> None:
    hi = POLICY_PARAMS["blend_time"].high
    for make in (
        lambda: POLICY_PARAMS.resolve({"blend_time": hi + 0.1}),
        lambda: SchedulerConfig(blend_time=hi + 0.1),
    ):
        with pytest.raises(ValueError, match=r"blend_time: .* outside the allowed range"):
            make()
    with pytest.raises(ValueError, match="min_inference_period"):
        ControllerConfig(min_inference_period=-1.0)
    with pytest.raises(ValueError, match="max_input_age"):
        SyncConfig(("head",), max_age=0.0)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"control_rate": 0.0}, "control_rate"),
        ({"control_rate": 501.0}, "control_rate"),
        ({"control_rate": math.nan}, "control_rate"),
        ({"blend": "average"}, "blend"),
        ({"policy_kwargs": "[1, 2]"}, "JSON object"),
        ({"policy_kwargs": "{oops"}, "not JSON"),
        ({"backend_options": '"never"'}, "backend_options must be a JSON object"),
        ({"backend_options": "{spin: never}"}, "backend_options is not JSON"),
        ({"backend_options": '{"spin": "never"}'}, "python:' policies take policy_kwargs"),
        ({"camera_topics": []}, "camera_topics is empty"),
        ({"camera_names": ["a", "b"]}, "one name per topic"),
        ({"require_activation": False, "instruction": " "}, "instruction is empty"),
        ({"seed": True}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"max_inference_latency": "1"}, "max_inference_latency"),
        ({"no_such_parameter": 1}, r"unknown policy_node parameters \['no_such_parameter'\]"),
    ],
)
def test_invalid_values_are_refused(kw, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        POLICY_PARAMS.resolve({"policy": "python:m:f"}, kw)


def test_parameter_files_layer_like_ros(tmp_path: Path) -> None:
    a = tmp_path / "a.yaml"
    a.write_text("/**:\n  ros__parameters:\n    control_rate: 25.0\n    blend: none\n")
    b = tmp_path / "b.yaml"
    b.write_text(
        "policy:\n  ros__parameters:\n    control_rate: 40.0\n"
        "    qos_overrides:\n      /h1/arm_command:\n        publisher:\n          depth: 5\n"
        "other_node:\n  ros__parameters:\n    control_rate: 1.0\n"
    )
    v = node_values([a, b], {"blend_time": 0.0})
    assert (v["control_rate"], v["blend"], v["blend_time"]) == (40.0, "none", 0.0)
    bad = tmp_path / "bad.yaml"
    bad.write_text("/**:\n  ros__parameters:\n    control_rte: 25.0\n")
    with pytest.raises(ValueError, match=r"unknown policy_node parameters \['control_rte'\]"):
        node_values([bad])
    with pytest.raises(FileNotFoundError):
        node_values([tmp_path / "missing.yaml"])


def test_build_controller_runs_the_table_settings() -> None:
    v = POLICY_PARAMS.resolve({"control_rate": 25.0, "arm_max_velocity": 1.0, "blend": "none"})
    ctl = build_controller(v, SinePolicy(), time.monotonic)
    assert ctl.safety.dt == pytest.approx(1 / 25)
    assert ctl.scheduler.config.blend == "none"
    assert ctl.config.min_inference_period == v["min_inference_period"]
    assert ctl.sync.config.camera_names == ("head",)
    arm = [i for i, j in enumerate(ctl.sync.layout.joints) if j.kind == "arm"]
    assert max(ctl.safety.limits.max_velocity[i] for i in arm) <= 1.0


def test_generated_yaml_quotes_and_types() -> None:
    table = SettingsTable(
        "n",
        (
            Setting("s", "str", 'a "b"', "a string"),
            Setting("f", "float", 1, "a float", 0, 2),
            Setting("l", "float_list", [1, 2], "gains", 0, 5, length=2),
        ),
    )
    text = table.params_yaml("header")
    assert 's: "a \\"b\\""' in text and "f: 1.0" in text and "l: [1.0, 2.0]" in text
    with pytest.raises(ValueError, match="expected 2 values"):
        table.resolve({"l": [1.0]})


def test_node_declares_the_table(make_graph) -> None:  # type: ignore[no-untyped-def]
    """What `ros2 param describe` shows is the table: types, ranges, read-only flags; dynamic
    settings accept a new value and read-only ones refuse it."""
    from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
    from rcl_interfaces.srv import DescribeParameters, ListParameters, SetParameters

    g = make_graph()
    node = g.spun.node

    def call(srv_type, name, req):  # type: ignore[no-untyped-def]
        cli = node.create_client(srv_type, f"/policy_node/{name}")
        assert cli.wait_for_service(timeout_sec=10.0)
        fut = cli.call_async(req)
        deadline = time.monotonic() + 10.0
        while not fut.done() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert fut.done(), name
        return fut.result()

    listed = set(call(ListParameters, "list_parameters", ListParameters.Request()).result.names)
    assert set(POLICY_PARAMS.names) <= listed
    req = DescribeParameters.Request(names=list(POLICY_PARAMS.names))
    for d in call(DescribeParameters, "describe_parameters", req).descriptors:
        s = POLICY_PARAMS[d.name]
        assert d.description == s.description
        assert d.read_only == (not s.dynamic), d.name
        if s.kind == "float":
            r = d.floating_point_range[0]
            assert (r.from_value, r.to_value) == (s.low, s.high), d.name
        if s.kind == "int":
            r = d.integer_range[0]
            assert (r.from_value, r.to_value) == (s.low, s.high), d.name

    def set_double(name: str, value: float) -> bool:
        p = Parameter(
            name=name,
            value=ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=value),
        )
        res = call(SetParameters, "set_parameters", SetParameters.Request(parameters=[p]))
        return bool(res.results[0].successful)

    assert POLICY_PARAMS["min_inference_period"].dynamic
    assert set_double("min_inference_period", 0.25)
    assert not set_double("min_inference_period", -1.0)  # out of range
    assert not POLICY_PARAMS["control_rate"].dynamic
    assert not set_double("control_rate", 10.0)  # read-only
    assert g.alive()
    assert g.proc.wait_for_line("settings changed", 5.0)


def test_camera_names_from_topics() -> None:
    assert T.camera_name_from_topic(T.HEAD_CAMERA_TOPIC) == "head"
    assert T.camera_name_from_topic("/h1/camera/left_wrist/image_raw/compressed") == "left_wrist"
    with pytest.raises(ValueError):
        T.camera_name_from_topic("/image_raw")
