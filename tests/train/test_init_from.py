"""Fine-tuning an imported EO-1 release checkpoint: ``init_from=OUT`` (issue #21).

A tiny release-format folder is imported, then trained for a few steps on a dataset with its own
statistics: the run starts from the imported weights (a frozen vision tower stays bit-equal), keeps
the eo1 compatibility mode and the release's chunk length, and stores the dataset's statistics.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.model.eo1_release_fixture import round_backbone_to_bf16, write_release
from vla_lego.models import import_eo1 as imp
from vla_lego.models.eo1 import EO1Config, EO1Policy
from vla_lego.models.eo1.configuration_eo1 import EO1_COMPAT
from vla_lego.models.registry import load_model
from vla_lego.train import compose_config, run
from vla_lego.train.config import ConfigError, validate_config

HORIZON = 8
IMAGE = 56


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    cfg = EO1Config.from_preset(
        "tiny", action_horizon=HORIZON, image_size=IMAGE, vocab_prune=None, **EO1_COMPAT
    )
    policy = EO1Policy(cfg).eval()
    round_backbone_to_bf16(policy)
    root = tmp_path_factory.mktemp("release")
    write_release(policy, root / "release")
    out = root / "imported"
    imp.import_eo1(root / "release", out, preset="tiny", overrides={"image_size": IMAGE})
    return out


def test_finetune_from_an_imported_checkpoint(imported: Path, tmp_path: Path) -> None:
    start = load_model(imported)
    assert start.processor.normalizer.is_identity
    policy_dir = run(
        [
            "trainer=debug",
            "model=eo1_3b",  # as a lab would; its sizes (3B, H = 50) are not used
            f"model.image_size={IMAGE}",
            "logging=disabled",
            "trainer.num_threads=1",
            "trainer.max_steps=3",
            "trainer.log_every_n_steps=1",
            "trainer.checkpoint.every_n_steps=3",
            "trainer.validation.every_n_steps=3",
            "trainer.freeze.vision_tower=true",
            "data.num_samples=8",
            "data.val_num_samples=0",
            f"data.image_size={IMAGE}",
            f"init_from={imported}",
            f"paths.root={tmp_path}",
            "run_name=finetune",
        ]
    )
    tuned = load_model(policy_dir)
    cfg = tuned.config
    assert cfg.compat == "eo1" and cfg.attention == "causal_actions" and cfg.norm_eps == 1e-8
    assert cfg.action_horizon == HORIZON and cfg.vocab_prune is None and cfg.fps == 10.0
    # The dataset's statistics, not the identity ones the import stored.
    norm = tuned.processor.normalizer
    assert not norm.is_identity
    assert not np.allclose(norm.stats["actions"].std, 1.0)
    a, b = start.state_dict(), tuned.state_dict()
    visual = [k for k in a if ".visual." in k]
    assert visual and all(torch.equal(a[k], b[k]) for k in visual)  # frozen: from the import
    assert not torch.equal(a["action_out_proj.weight"], b["action_out_proj.weight"])  # trained
    assert tuned.processor.tokenizer.convert_tokens_to_ids("<|state_pad|>") == 151670


def test_init_from_that_is_not_a_checkpoint_is_refused(tmp_path: Path) -> None:
    cfg = compose_config(["trainer=debug", "model=tiny", f"init_from={tmp_path / 'nothing'}"])
    with pytest.raises(ConfigError, match=r"init_from=.*not a policy checkpoint folder"):
        validate_config(cfg, 1)
