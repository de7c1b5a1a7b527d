"""Replacement policies, gender codes and the policy evaluator (issue 13)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from trainer.data.taxonomy import ACTIVITIES
from trainer.errors import TrainerError
from trainer.evaluators import EvalConfig
from trainer.protect import Policy, gender_codes, load_policy, policy_from_dict, replacement_targets
from trainer.splits import make_splits

from .synthetic import planted

CFG = EvalConfig.quick(epochs=12)


def _write(tmp_path: Path, text: str) -> str:
    p = tmp_path / "p.toml"
    p.write_text(text)
    return str(p)


def test_shipped_policy_resolves_by_name() -> None:
    p = load_policy("assisted-living", ACTIVITIES)
    assert p.name == "assisted-living"
    assert [ACTIVITIES[i] for i in p.required] == ["walking", "upstairs", "downstairs", "stairs"]
    assert {(ACTIVITIES[s], ACTIVITIES[n]) for s, n in p.replace} == {("laying", "sitting"), ("jogging", "walking")}
    assert policy_from_dict(p.to_dict(), ACTIVITIES) == p


@pytest.mark.parametrize(("text", "needle"), [
    ('required = ["walking"]\n[replace]\nflying = "sitting"\n', "unknown activity 'flying'"),
    ('required = ["laying"]\n[replace]\nlaying = "sitting"\n', "both required and sensitive"),
    ('[replace]\nlaying = "sitting"\nsitting = "standing"\n', "may not itself be sensitive"),
    ('required = ["walking"]\n', "must map at least one"),
    ('colour = 1\n[replace]\nlaying = "sitting"\n', "unknown key 'colour'"),
    ('required = "walking"\n[replace]\nlaying = "sitting"\n', "required must be a list"),
    ("[replace\n", "not valid TOML"),
])  # fmt: skip
def test_bad_policies_are_one_line_errors(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(TrainerError, match=needle) as e:
        load_policy(_write(tmp_path, text), ACTIVITIES)
    assert "\n" not in str(e.value)


def test_missing_policy_names_the_known_ones() -> None:
    with pytest.raises(TrainerError, match="assisted-living"):
        load_policy("no-such-policy", ACTIVITIES)


def test_recorded_policy_outside_the_taxonomy_is_refused() -> None:
    d = load_policy("assisted-living", ACTIVITIES).to_dict()
    with pytest.raises(TrainerError, match="not in this taxonomy"):
        policy_from_dict(d, ("walk", "stairs", "jog", "static"))


def test_targets_are_the_same_subjects_neutral_windows() -> None:
    rng = np.random.default_rng(0)
    n = 60
    labels = np.repeat([0, 1, 2], n // 3)  # 0 sensitive -> 1 neutral; 2 untouched
    subject = np.tile([7, 8], n // 2)
    x = np.arange(n, dtype=np.float32)[:, None, None] * np.ones((1, 4, 2), np.float32)
    pol = Policy("t", (2,), ((0, 1),), ("a", "b", "c"))
    tx, ta = replacement_targets(x, labels, subject, pol, rng)
    assert (ta == np.where(labels == 0, 1, labels)).all()
    src = tx[:, 0, 0].astype(int)
    sens = labels == 0
    assert (labels[src[sens]] == 1).all() and (subject[src[sens]] == subject[sens]).all()
    assert (tx[~sens] == x[~sens]).all()
    assert len(np.unique(src[sens])) > 3  # random draws, not one copied window


def test_targets_fall_back_to_other_people_and_refuse_a_missing_class() -> None:
    rng = np.random.default_rng(1)
    labels, subject = np.array([0, 0, 1, 1]), np.array([1, 1, 2, 2])
    x = np.arange(4, dtype=np.float32)[:, None, None]
    tx, _ = replacement_targets(x, labels, subject, Policy("t", (), ((0, 1),), ("a", "b")), rng)
    assert set(tx[:2, 0, 0].astype(int)) <= {2, 3}
    with pytest.raises(TrainerError, match="no training window of the neutral activity 'c'"):
        replacement_targets(x, labels, subject, Policy("t", (), ((0, 2),), ("a", "b", "c")), rng)


def test_gender_codes_weight_unknown_zero() -> None:
    code, w = gender_codes(np.array(["F", "M", "", "M"]))
    assert code.tolist() == [0, 1, 0, 1] and w.tolist() == [1.0, 1.0, 0.0, 1.0]


def test_weighted_identity_loss_ignores_zero_weight_rows() -> None:
    tf = pytest.importorskip("tensorflow")
    from trainer.losses import identity_loss

    onehot = tf.constant([[1.0, 0.0], [1.0, 0.0]])
    logits = tf.constant([[4.0, -4.0], [0.0, 0.0]])
    only_second = identity_loss(onehot[1:], logits[1:])
    weighted = identity_loss(onehot, logits, tf.constant([0.0, 1.0]))
    assert abs(float(weighted) - float(only_second)) < 1e-6
    assert float(identity_loss(onehot, logits)) > float(only_second)  # the confident row costs more


@pytest.mark.slow
def test_policy_evaluator_tells_raw_from_a_replaced_release() -> None:
    """Raw: rest and walk are trivially apart. Rest windows replaced by the same person's walk windows:
    the retrained classifier is at chance, and the required activity's F1 is kept."""
    from trainer.policy_eval import policy_attacks

    ws = planted(n_subjects=6)
    splits = make_splits(ws, seed=0)
    pol = Policy("t", (1,), ((0, 1),), ws.activity_names)
    raw = policy_attacks(ws.x, ws, splits, pol, CFG)
    assert raw["sensitive"]["balanced_accuracy"] > 90
    assert raw["required"]["macro_f1"] > 90
    replaced, _ = replacement_targets(ws.x, ws.activity, ws.subject, pol, np.random.default_rng(0))
    out = policy_attacks(replaced, ws, splits, pol, CFG)
    assert out["sensitive"]["balanced_accuracy"] < 65
    assert out["required"]["macro_f1"] > 90
    assert out["policy"] == {"name": "t", "required": ["walk"], "replace": {"rest": "walk"}}


def test_summary_and_report_carry_the_policy_numbers() -> None:
    from trainer.crosseval import _markdown, summary_row

    result = {"replacement": {"required": {"macro_f1": 88.5}, "sensitive": {"balanced_accuracy": 57.25}}}
    row = summary_row(result)
    assert row["required_f1"] == 88.5 and row["sensitive_max"] == 57.25
    assert summary_row({})["sensitive_max"] is None
    doc = {"mode": "within", "dataset": "x", "n_windows": 1, "window": {}, "splits": {}, "summary": {"anonymizer": row},
           "pareto_vs_lowpass": {}, "eval_config": {"session_seconds": 60.0}}
    md = _markdown(doc)
    assert "| anonymizer | 88.5 | 57.2 |" in md and "Replacement policy" in md
    assert "Replacement policy" not in _markdown({**doc, "summary": {"raw": summary_row({})}})
