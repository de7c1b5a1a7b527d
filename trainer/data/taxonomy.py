"""One activity vocabulary across datasets, and the coarse taxonomy that several datasets share.

Every loader labels its samples with an index into the *fine* vocabulary ``ACTIVITIES`` (-1 =
unlabelled or excluded). Indices 0-6 are the original ones, so models and evaluations made on
HAPT before the vocabulary grew stay valid; new names are only ever appended.

Fine labels per dataset (the rule for each source code):

- **HAPT** (``activity_labels.txt``): 1 walking, 2 upstairs, 3 downstairs, 4 sitting, 5 standing,
  6 laying. 7-12 (postural transitions) are -1 by default, as they always were; a load with
  ``transitions=True`` (what the coarse taxonomy asks for) labels them "transition".
- **SisFall** (ADLs, ``Dxx``): D01, D02 walking (slow, fast); D03, D04 jogging; D05, D06 "stairs"
  (up and down in one trial, not separated); D07-D17 (sit down/stand up, lie down/sit up, turn in
  bed, bend, get into and out of a car) "transition": each 12-25 s trial is mostly the postural
  change with short static parts that are not marked, so the whole trial is one transition bout;
  D18 (stumble while walking) -1, excluded: neither walking nor a posture change; D19 (gentle jump)
  "jumping". Falls (``Fxx``) are not loaded.
- **MotionSense** (folder codes): wlk walking, ups upstairs, dws downstairs, sit sitting,
  std standing, jog jogging.

The *coarse* taxonomy ``COARSE_ACTIVITIES`` merges what the datasets cannot tell apart alike:
walking -> walk; upstairs, downstairs, stairs -> stairs; jogging -> jog; sitting, standing,
laying -> static; transition -> transition; jumping -> jump. It is the default when several
datasets are loaded together; one dataset alone defaults to fine.

Classes a dataset lacks (HAPT has no jog or jump, SisFall no static posture on its own) simply
have no windows from it. ``WindowSet.activity_names`` keeps the whole vocabulary so indices mean
the same everywhere; evaluators use only the classes present in the windows they score.
"""

from __future__ import annotations

import numpy as np

from ..errors import DatasetError

__all__ = [
    "ACTIVITIES", "COARSE_ACTIVITIES", "FINE_TO_COARSE", "TAXONOMIES", "HAPT_FINE", "HAPT_TRANSITIONS",
    "SISFALL_FINE", "MOTIONSENSE_FINE", "activity_names", "check_taxonomy", "default_taxonomy", "relabel",
]

# index = fine label; 0-6 fixed forever (the shipped HAPT model), later names appended only
ACTIVITIES = (
    "walking", "upstairs", "downstairs", "sitting", "standing", "laying", "jogging",
    "stairs", "transition", "jumping",
)
COARSE_ACTIVITIES = ("walk", "stairs", "jog", "static", "transition", "jump")
FINE_TO_COARSE = {
    "walking": "walk",
    "upstairs": "stairs", "downstairs": "stairs", "stairs": "stairs",
    "jogging": "jog",
    "sitting": "static", "standing": "static", "laying": "static",
    "transition": "transition",
    "jumping": "jump",
}
TAXONOMIES = ("fine", "coarse")

# dataset code -> fine name (None = excluded, label -1)
HAPT_FINE = {1: "walking", 2: "upstairs", 3: "downstairs", 4: "sitting", 5: "standing", 6: "laying"}
HAPT_TRANSITIONS = frozenset(range(7, 13))
SISFALL_FINE: dict[int, str | None] = {
    1: "walking", 2: "walking", 3: "jogging", 4: "jogging", 5: "stairs", 6: "stairs",
    **{code: "transition" for code in range(7, 18)},
    18: None,
    19: "jumping",
}
MOTIONSENSE_FINE = {"wlk": "walking", "ups": "upstairs", "dws": "downstairs", "sit": "sitting", "std": "standing", "jog": "jogging"}

# fine index -> coarse index, as a lookup table
_COARSE_OF_FINE = np.array([COARSE_ACTIVITIES.index(FINE_TO_COARSE[a]) for a in ACTIVITIES], np.int16)


def check_taxonomy(taxonomy: str) -> str:
    """``taxonomy`` if known, else a one-line error."""
    if taxonomy not in TAXONOMIES:
        raise DatasetError(f"unknown activity taxonomy {taxonomy!r}; known: {', '.join(TAXONOMIES)}")
    return taxonomy


def default_taxonomy(n_datasets: int) -> str:
    """Fine for one dataset (its published classes), coarse for several (what they share)."""
    return "fine" if n_datasets <= 1 else "coarse"


def activity_names(taxonomy: str) -> tuple[str, ...]:
    """The names the labels of ``taxonomy`` index."""
    return ACTIVITIES if check_taxonomy(taxonomy) == "fine" else COARSE_ACTIVITIES


def relabel(labels: np.ndarray, taxonomy: str) -> np.ndarray:
    """Fine labels -> labels of ``taxonomy`` (int16; -1 stays -1)."""
    fine = np.asarray(labels).astype(np.int16)
    if check_taxonomy(taxonomy) == "fine":
        return fine
    if fine.size and (fine.max() >= len(ACTIVITIES) or fine.min() < -1):
        raise DatasetError(f"activity label outside the fine vocabulary (0..{len(ACTIVITIES) - 1} or -1)")
    out = np.full(fine.shape, -1, np.int16)
    known = fine >= 0
    out[known] = _COARSE_OF_FINE[fine[known]]
    return out
