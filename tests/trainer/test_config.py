from dataclasses import replace
from pathlib import Path

import pytest

from trainer.config import TrainConfig, load_config
from trainer.errors import TrainerError

CONFIGS = Path(__file__).resolve().parents[2] / "trainer" / "configs"


def test_defaults_without_file():
    assert load_config() == TrainConfig()


@pytest.mark.parametrize("name", sorted(p.name for p in CONFIGS.glob("*.toml")))
def test_shipped_configs_load(name):
    cfg = load_config(CONFIGS / name)
    assert cfg.window == 128 and cfg.rounds >= 1


def test_private_config_only_raises_the_identity_weight_over_the_shipped_one():
    shipped, private = load_config(CONFIGS / "hapt.toml"), load_config(CONFIGS / "hapt-private.toml")
    assert private.beta_id == 2 * shipped.beta_id and private.beta_dist == shipped.beta_dist == 1.5
    assert replace(private, beta_id=shipped.beta_id) == shipped


def test_unknown_key_is_named(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text("roundz = 3\n")
    with pytest.raises(TrainerError, match="unknown config key: roundz"):
        load_config(p)


def test_wrong_type_is_named(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('rounds = "three"\n')
    with pytest.raises(TrainerError, match="rounds must be int"):
        load_config(p)


def test_split_stratify_is_gender_or_empty(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('split_stratify = "gender"\n')
    assert load_config(p).split_stratify == "gender"
    p.write_text('split_stratify = "age"\n')
    with pytest.raises(TrainerError, match="split_stratify must be gender"):
        load_config(p)


def test_int_promotes_to_float_and_overrides_win(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text("beta_id = 3\nrounds = 2\n")
    cfg = load_config(p, rounds=7)
    assert cfg.beta_id == 3.0 and isinstance(cfg.beta_id, float) and cfg.rounds == 7


def test_bad_toml_and_missing_file(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text("rounds = = 2\n")
    with pytest.raises(TrainerError, match="not valid TOML"):
        load_config(p)
    with pytest.raises(TrainerError, match="not found"):
        load_config(tmp_path / "nope.toml")
