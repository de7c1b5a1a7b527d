from pathlib import Path

import pytest

from trainer.config import TrainConfig, load_config
from trainer.errors import TrainerError

CONFIGS = Path(__file__).resolve().parents[2] / "trainer" / "configs"


def test_defaults_without_file():
    assert load_config() == TrainConfig()


@pytest.mark.parametrize("name", ["hapt.toml", "small.toml", "smoke.toml"])
def test_shipped_configs_load(name):
    cfg = load_config(CONFIGS / name)
    assert cfg.window == 128 and cfg.rounds >= 1


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
