"""The node's parameter table and config/policy.yaml agree with each other and with vla_lego."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from vla_lego.robot import topics as T
from vla_lego_policy import parameters as P

PKG = Path(__file__).resolve().parents[2] / "ros2_ws/src/vla_lego_policy"


DEFAULTS = yaml.safe_load((PKG / "config/policy.yaml").read_text())["/**"]["ros__parameters"]


def test_yaml_and_table_name_the_same_parameters() -> None:
    assert set(DEFAULTS) == set(P.SPECS)


def test_topic_defaults_are_the_project_topics() -> None:
    assert DEFAULTS["camera_topics"] == [T.HEAD_CAMERA_TOPIC]
    assert DEFAULTS["joint_states_topic"] == T.JOINT_STATES_TOPIC
    assert DEFAULTS["command_topic"] == T.ARM_COMMAND_TOPIC
    assert DEFAULTS["instruction_topic"] == T.INSTRUCTION_TOPIC
    assert DEFAULTS["action_chunk_topic"] == T.ACTION_CHUNK_TOPIC
    assert DEFAULTS["status_topic"] == T.POLICY_STATUS_TOPIC
    assert DEFAULTS["set_task_service"] == T.SET_TASK_SERVICE


def _values(**kw):
    v = dict(DEFAULTS, policy="python:m:f", camera_names=[])
    v.update(kw)
    return v


def test_defaults_are_valid_once_a_policy_is_named() -> None:
    P.check_values(_values())
    with pytest.raises(ValueError, match="policy is empty"):
        P.check_values(_values(policy=""))


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"control_rate": 0.0}, "control_rate"),
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
    ],
)
def test_invalid_values_are_refused(kw, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        P.check_values(_values(**kw))


def test_camera_names_from_topics() -> None:
    assert T.camera_name_from_topic(T.HEAD_CAMERA_TOPIC) == "head"
    assert T.camera_name_from_topic("/h1/camera/left_wrist/image_raw/compressed") == "left_wrist"
    with pytest.raises(ValueError):
        T.camera_name_from_topic("/image_raw")
