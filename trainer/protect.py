"""Protected attributes and sensitive-activity replacement (issue 13): what the AAE learns beyond identity.

Two additions to the paper's loss, both optional (0 / empty = the paper's AAE):

- ``beta_gender``: a gender regularizer (GenReg, a CNN on X') trained every round on the released
  windows of subjects whose dataset publishes a gender; the AAE is pushed away from it with the
  identity loss's form (away from the true class and from any confident guess: for two classes the
  optimum is 50/50). Windows of unknown gender carry no weight.
- ``policy``: a replacement policy (the Replacement AutoEncoder's idea): *required* activities are
  released as the AAE's reconstruction, *sensitive* ones must come out looking like their *neutral*
  target. For a sensitive window the distortion target is a window of the neutral class (the same
  subject's where it has one, so the replacement carries no other person's signature) and the activity
  regularizer's label is the neutral class. Targets are redrawn every round.

A policy file (TOML; ``trainer/configs/policies/`` holds the documented ones)::

    required = ["walking", "upstairs", "downstairs"]   # kept; their macro-F1 is measured
    [replace]                                           # sensitive = "neutral target"
    laying = "sitting"

Names are activities of the run's taxonomy (trainer.data.taxonomy); a name the taxonomy lacks, a
sensitive activity that is also required or a neutral target that is itself sensitive is an error.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import TrainerError

__all__ = ["Policy", "load_policy", "policy_from_dict", "policy_path", "replacement_targets", "gender_codes", "GENDERS"]

GENDERS = ("F", "M")  # code 0, 1; unknown = -1
POLICY_DIR = Path(__file__).resolve().parent / "configs" / "policies"


@dataclass(frozen=True)
class Policy:
    """A replacement policy resolved against one activity vocabulary (indices into it)."""

    name: str
    required: tuple[int, ...]
    replace: tuple[tuple[int, int], ...]  # (sensitive, neutral)
    names: tuple[str, ...]  # the vocabulary the indices point into

    @property
    def sensitive(self) -> tuple[int, ...]:
        return tuple(s for s, _ in self.replace)

    def target_labels(self, labels: np.ndarray) -> np.ndarray:
        """Labels as the release should look: each sensitive activity relabelled as its neutral one."""
        out = np.asarray(labels).copy()
        for s, n in self.replace:
            out[labels == s] = n
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "required": [self.names[i] for i in self.required],
                "replace": {self.names[s]: self.names[n] for s, n in self.replace}}  # fmt: skip


def policy_from_dict(d: dict[str, Any], names: tuple[str, ...]) -> Policy:
    """The policy a run recorded (``Policy.to_dict``), resolved against ``names`` (an evaluation's taxonomy)."""
    unknown = [a for a in (*d["required"], *d["replace"], *d["replace"].values()) if a not in names]
    if unknown:
        raise TrainerError(f"policy {d.get('name')!r}: activity {unknown[0]!r} is not in this taxonomy ({', '.join(names)})")
    return Policy(str(d.get("name", "policy")), tuple(names.index(r) for r in d["required"]),
                  tuple((names.index(s), names.index(n)) for s, n in d["replace"].items()), names)  # fmt: skip


def policy_path(value: str) -> Path:
    """A policy file given as a path, or a bare name of one under trainer/configs/policies/."""
    p = Path(value)
    if p.is_file():
        return p
    named = POLICY_DIR / f"{value}.toml"
    if p.suffix == "" and named.is_file():
        return named
    known = ", ".join(sorted(f.stem for f in POLICY_DIR.glob("*.toml")))
    raise TrainerError(f"policy {value!r} not found (a TOML file, or one of: {known})")


def load_policy(value: str, names: tuple[str, ...]) -> Policy:
    """Parse and check the policy ``value`` (path or bare name) against the activity ``names``."""
    path = policy_path(value)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise TrainerError(f"policy {path}: not valid TOML: {exc}") from exc
    unknown = set(doc) - {"required", "replace", "name", "description"}
    if unknown:
        raise TrainerError(f"policy {path}: unknown key {sorted(unknown)[0]!r} (known: name, description, required, replace)")
    required, replace = doc.get("required", []), doc.get("replace", {})
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        raise TrainerError(f"policy {path}: required must be a list of activity names")
    if not isinstance(replace, dict) or not replace or not all(isinstance(v, str) for v in replace.values()):
        raise TrainerError(f"policy {path}: [replace] must map at least one sensitive activity to a neutral one")

    def index(name: str) -> int:
        if name not in names:
            raise TrainerError(f"policy {path}: unknown activity {name!r}; this taxonomy has {', '.join(names)}")
        return names.index(name)

    req = tuple(index(r) for r in required)
    pairs = tuple((index(s), index(n)) for s, n in replace.items())
    sens = {s for s, _ in pairs}
    if sens & set(req):
        raise TrainerError(f"policy {path}: {names[min(sens & set(req))]!r} is both required and sensitive")
    if any(n in sens for _, n in pairs):
        raise TrainerError(f"policy {path}: a neutral target may not itself be sensitive")
    return Policy(str(doc.get("name", path.stem)), req, pairs, names)


def replacement_targets(x: np.ndarray, labels: np.ndarray, subject: np.ndarray, policy: Policy | None,
                        rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """(distortion targets, activity targets) for training windows ``x``: a sensitive window's target is
    a random window of its neutral class, the same subject's where it has one; the rest are themselves."""
    if policy is None:
        return x, labels
    tx, ta = x.copy(), policy.target_labels(labels)
    for s, n in policy.replace:
        pool_all = np.flatnonzero(labels == n)
        if len(pool_all) == 0:
            raise TrainerError(f"policy: no training window of the neutral activity {policy.names[n]!r}")
        for subj in np.unique(subject[labels == s]):
            rows = np.flatnonzero((labels == s) & (subject == subj))
            own = pool_all[subject[pool_all] == subj]
            pool = own if len(own) else pool_all
            tx[rows] = x[rng.choice(pool, size=len(rows))]
    return tx, ta


def gender_codes(genders: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-window "F"/"M"/"" -> (code 0/1, -1 unknown as 0; weight 1.0 known / 0.0 unknown)."""
    g = np.asarray(genders)
    code = np.where(g == "M", 1, 0).astype(np.int32)
    known = np.isin(g, GENDERS).astype(np.float32)
    return code, known
