"""Training configuration: one commented block of defaults; TOML files under configs/ hold deltas only.

An unknown key or a value of the wrong type is an error that names the key (nanoGPT's
configurator, without ``exec``).
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from .errors import TrainerError

__all__ = ["TrainConfig", "load_config", "dataset_names"]

_TAXONOMIES = ("", "fine", "coarse")  # "" = fine for one dataset, coarse for several (trainer.data.taxonomy)


@dataclass(frozen=True)
class TrainConfig:
    # data -------------------------------------------------------------------------------
    dataset: str = "hapt"          # key of trainer.data.LOADERS
    datasets: tuple[str, ...] = ()  # several LOADERS keys trained on together; empty = just `dataset`
    taxonomy: str = ""             # "fine" / "coarse"; "" = fine for one dataset, coarse for several
    view: str = "magnitude"        # channel view (edge_runtime.contract.VIEWS): the paper's |acc|, |gyro|
    rate_hz: float = 50.0
    window: int = 128              # W, samples per window
    stride: int = 32               # training-window stride (denser = more windows)
    eval_stride: int = 32          # stride of the evaluation windows
    runtime_stride: int = 64       # default stride recorded for the gateway
    test_fraction: float = 1 / 3   # share of subjects never seen in training (unseen users)
    split_seed: int = 0
    split_stratify: str = ""       # "gender": unseen people drawn per (dataset, gender); "" = from all at once
    seed: int = 0
    # release filter (fixed, last layer of the model): what must go whatever a learned part does --------
    release_cutoff_hz: float = 0.0  # zero-phase low-pass of every channel; 0 = none
    release_center: bool = False    # replace the window mean of |acc| by g (magnitude view only)
    # > 0: centre only windows that move: a window whose |acc| mean absolute deviation is well below this
    # [m/s^2] keeps its offset (in magnitudes the only cue to a static posture); 0 = centre every window
    release_keep_static_mad: float = 0.0
    learned: bool = True           # train an encoder/decoder in front of the filter; false = the filter alone
    # model (int8-friendly: ReLU, Conv1D + UpSampling1D, no SELU, no transposed conv) ------
    filters: int = 24              # encoder/decoder width
    latent_channels: int = 12      # Y is (W/4, latent_channels)
    reg_filters: int = 64          # regularizer (EncReg/DecReg/ActReg) width
    # loss L = beta_id * L_i + beta_act * CE_activity + beta_dist * MSE ---------------------
    beta_id: float = 1.0
    beta_act: float = 3.0
    beta_dist: float = 0.5
    # protected attribute and sensitive activities (trainer/protect.py; 0 / "" = the paper's AAE) ------
    beta_gender: float = 0.0       # weight of the gender regularizer (GenReg on X'; unknown gender: no weight)
    policy: str = ""               # replacement policy: a TOML path or a name under configs/policies/
    # procedure (paper Fig. 6 + attackers that keep adapting) -------------------------------
    pretrain_epochs: int = 8       # AE on X -> X
    rounds: int = 30               # regularizer/AAE rounds
    min_rounds: int = 8            # the stopping rule is not checked before this round
    reg_warmup_epochs: int = 12    # regularizer epochs in round 0 (they start from scratch)
    reg_epochs: int = 3            # e: regularizer epochs per round (continued training)
    aae_epochs: int = 3            # e: AAE epochs per round, regularizers frozen
    fresh_attackers: int = 1       # identity attackers re-initialised and trained from scratch each round
    fresh_epochs: int = 30         # epochs for a fresh attacker (to convergence: it is the privacy check)
    batch_size: int = 128
    lr: float = 1e-3               # AAE learning rate
    reg_lr: float = 2e-3           # regularizer and attacker learning rate
    # stopping rule: stop once the fresh attacker is near chance and activity holds up -------
    stop_identity_over_chance: float = 1.5   # fresh-attacker acc <= this x chance ...
    stop_activity_drop: float = 0.02         # ... and ActReg accuracy within this of round 0
    privacy_weight: float = 0.5              # best round = max(activity acc - privacy_weight * (identity acc - chance))
    max_minutes: float = 40.0                # wall-clock budget; the best round so far is kept
    # evaluation after training --------------------------------------------------------------
    evaluate: bool = True
    eval_quick: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_config(path: str | Path | None = None, **overrides: Any) -> TrainConfig:
    """Defaults, then the TOML file's keys, then ``overrides`` (e.g. from the CLI)."""
    cfg = TrainConfig()
    values: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        try:
            values.update(tomllib.loads(p.read_text(encoding="utf-8")))
        except FileNotFoundError as exc:
            raise TrainerError(f"config file {p} not found") from exc
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise TrainerError(f"config file {p} is not valid TOML: {exc}") from exc
    values.update({k: v for k, v in overrides.items() if v is not None})
    types = {f.name: type(getattr(cfg, f.name)) for f in fields(cfg)}
    for key, value in values.items():
        if key not in types:
            raise TrainerError(f"unknown config key: {key}")
        want = types[key]
        if want is tuple:
            if not isinstance(value, list | tuple):
                raise TrainerError(f"config key {key} must be a list of str, got {type(value).__name__}")
            bad = [v for v in value if not isinstance(v, str) or not v]
            if bad:
                raise TrainerError(f"config key {key} must be a list of str, got the element {bad[0]!r}")
            values[key] = tuple(value)
        elif want is float and isinstance(value, int) and not isinstance(value, bool):
            values[key] = float(value)
        elif not isinstance(value, want) or (want is int and isinstance(value, bool)):
            raise TrainerError(f"config key {key} must be {want.__name__}, got {type(value).__name__}")
    if values.get("taxonomy", "") not in _TAXONOMIES:
        raise TrainerError(f"config key taxonomy must be one of fine, coarse (or empty), got {values['taxonomy']!r}")
    if values.get("split_stratify", "") not in ("", "gender"):
        raise TrainerError(f"config key split_stratify must be gender (or empty), got {values['split_stratify']!r}")
    return replace(cfg, **values)


def dataset_names(cfg: TrainConfig) -> tuple[str, ...]:
    """The datasets a run trains on: ``datasets`` when given, else ``(dataset,)``."""
    return cfg.datasets or (cfg.dataset,)
