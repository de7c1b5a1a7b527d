"""The non-neural attacker: MiniRocket features -> principal components -> ridge (aeon + numpy).

MiniRocket with a ridge classifier (Dempster, Schmidt, Webb, KDD 2021) is the standard strong
time-series baseline. Two choices keep it affordable on two cores for 20k+ windows and for
leave-one-subject-out (LOSO):

- the transform (kernels, biases), the feature standardization and a randomized PCA are fitted once
  per release on the identity-training windows only; every attacker of that release (identity,
  gender, height/weight) reuses the same features (``RocketSpace``);
- ridge is solved in the top ``rank`` components through an eigendecomposition of the k x k Gram
  matrix, so each ridge strength costs one small product and each fold one k x k decomposition.

The ridge strength is chosen by group-wise cross-validation (bouts, or subjects for LOSO), never by
leave-one-window-out: neighbouring windows overlap, and LOO would pick a strength that fits near copies.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

__all__ = ["ALPHAS", "RocketSpace", "Ridge", "rocket_space", "fit_ridge", "fit_ridge_many", "loso_ridge", "group_folds"]

ALPHAS = tuple(float(a) for a in 10.0 ** np.arange(-1, 6))  # ridge strengths tried: 0.1 .. 1e5
_DEFAULT_ALPHA = 1e3  # when there are too few groups to cross-validate


@dataclass
class RocketSpace:
    """Principal-component scores of the standardized MiniRocket features of every window of one release."""

    z: np.ndarray  # (N, k) float32
    fit_idx: np.ndarray  # windows the transform, scaling and PCA were fitted on
    n_features: int
    explained: float  # share of the fit windows' feature variance the k components keep
    seconds: float

    def describe(self) -> dict[str, object]:
        return {"n_features": self.n_features, "rank": int(self.z.shape[1]), "explained_variance": round(self.explained, 4),
                "n_fit_windows": int(len(self.fit_idx)), "seconds": round(self.seconds, 1)}


def rocket_space(released: np.ndarray, fit_idx: np.ndarray, *, n_kernels: int, rank: int, seed: int,
                 chunk: int = 4096) -> RocketSpace:
    """Fit MiniRocket + scaling + PCA on ``released[fit_idx]`` and project every window once."""
    from aeon.transformations.collection.convolution_based import MiniRocket
    from sklearn.utils.extmath import randomized_svd

    t0 = time.perf_counter()
    x = np.ascontiguousarray(np.transpose(released, (0, 2, 1)), dtype=np.float32)  # (N, C, T) as aeon wants
    mr = MiniRocket(n_kernels=n_kernels, random_state=seed, n_jobs=1)
    mr.fit(x[fit_idx])
    f = np.asarray(mr.transform(x[fit_idx]), np.float32)
    mu = f.mean(axis=0)
    sd = f.std(axis=0)
    sd[sd < 1e-6] = 1.0  # constant features (e.g. a constant release) stay 0
    z_fit = (f - mu) / sd
    del f
    k = max(1, min(rank, z_fit.shape[0] - 1, z_fit.shape[1]))
    _, s, vt = randomized_svd(z_fit, k, n_oversamples=32, n_iter=4, random_state=seed)
    vt = vt.astype(np.float32)
    out = np.empty((len(x), k), np.float32)
    out[fit_idx] = z_fit @ vt.T
    total = float(np.sum(z_fit.astype(np.float64) ** 2))
    n_features = int(z_fit.shape[1])
    del z_fit
    rest = np.setdiff1d(np.arange(len(x)), fit_idx)
    for i in range(0, len(rest), chunk):
        part = rest[i : i + chunk]
        out[part] = ((np.asarray(mr.transform(x[part]), np.float32) - mu) / sd) @ vt.T
    explained = float(np.sum(s.astype(np.float64) ** 2)) / total if total > 0 else 1.0
    return RocketSpace(out, np.asarray(fit_idx), n_features, explained, time.perf_counter() - t0)


def group_folds(groups: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """Fold number per row: whole groups (bouts, subjects) go to one fold, seeded."""
    uniq, inv = np.unique(groups, return_inverse=True)
    order = np.random.default_rng(seed).permutation(len(uniq))
    return np.asarray((order % max(1, min(n_folds, len(uniq))))[inv.reshape(-1)])


@dataclass
class _Block:
    """Sufficient statistics of some rows for centered ridge: counts, sums and cross products."""

    n: int
    sz: np.ndarray  # (k,)
    szz: np.ndarray  # (k, k)
    sy: list[np.ndarray]  # per target (m,)
    szy: list[np.ndarray]  # per target (k, m)

    @classmethod
    def of(cls, z: np.ndarray, ts: list[np.ndarray]) -> _Block:
        z64 = z.astype(np.float64)
        return cls(len(z), z64.sum(axis=0), z64.T @ z64, [t.sum(axis=0) for t in ts], [z64.T @ t for t in ts])

    def __add__(self, o: _Block) -> _Block:
        return _Block(self.n + o.n, self.sz + o.sz, self.szz + o.szz, [a + b for a, b in zip(self.sy, o.sy, strict=True)],
                      [a + b for a, b in zip(self.szy, o.szy, strict=True)])

    def __sub__(self, o: _Block) -> _Block:
        return _Block(self.n - o.n, self.sz - o.sz, self.szz - o.szz, [a - b for a, b in zip(self.sy, o.sy, strict=True)],
                      [a - b for a, b in zip(self.szy, o.szy, strict=True)])


class _Eig:
    """Centered ridge of one training set in the eigen-coordinates of its Gram matrix."""

    def __init__(self, b: _Block) -> None:
        n = max(b.n, 1)
        self.mean = b.sz / n
        lam, self.v = np.linalg.eigh(b.szz - np.outer(b.sz, b.sz) / n)
        self.lam = np.clip(lam, 0.0, None)
        self.ym = [sy / n for sy in b.sy]
        self.a = [self.v.T @ (szy - np.outer(b.sz, sy) / n) for sy, szy in zip(b.sy, b.szy, strict=True)]  # (k, m)

    def coords(self, z: np.ndarray) -> np.ndarray:
        return np.asarray((z.astype(np.float64) - self.mean) @ self.v)

    def predict(self, q: np.ndarray, j: int, alpha: np.ndarray) -> np.ndarray:
        """Target ``j`` on rows ``q = coords(z)``, one ridge strength per output column."""
        return np.asarray(q @ (self.a[j] / (self.lam[:, None] + alpha[None, :])) + self.ym[j])

    def model(self, j: int, alpha: np.ndarray, classes: np.ndarray | None) -> Ridge:
        return Ridge(self.mean, self.v @ (self.a[j] / (self.lam[:, None] + alpha[None, :])), self.ym[j], alpha, classes)


@dataclass
class Ridge:
    """A fitted ridge model on ``RocketSpace.z`` rows: classifier when ``classes`` is set, else regressor."""

    mean: np.ndarray
    w: np.ndarray  # (k, m)
    b: np.ndarray  # (m,)
    alpha: np.ndarray  # (m,) chosen strength per output
    classes: np.ndarray | None = None

    def decision(self, z: np.ndarray) -> np.ndarray:
        return np.asarray((z.astype(np.float64) - self.mean) @ self.w + self.b)

    def predict(self, z: np.ndarray) -> np.ndarray:
        d = self.decision(z)
        if self.classes is None:
            return np.asarray(d[:, 0] if d.shape[1] == 1 else d)
        return np.asarray(self.classes[np.argmax(d, axis=1)])


def _targets(y: np.ndarray, kind: str, classes: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    if kind == "class":
        classes = np.unique(y) if classes is None else classes
        return np.where(y[:, None] == classes[None, :], 1.0, -1.0), classes
    if kind == "reg":
        return np.asarray(y, np.float64).reshape(len(y), -1), None
    raise ValueError(f"kind must be 'class' or 'reg', got {kind!r}")


def _choose(scores: np.ndarray, kind: str) -> np.ndarray:
    """``scores[alpha, column]`` (higher is better) -> alpha per column; a classifier shares one."""
    alphas = np.asarray(ALPHAS)
    if kind == "class":
        best = scores.sum(axis=1)
        return np.full(scores.shape[1], alphas[len(best) - 1 - int(np.argmax(best[::-1]))])  # ties: stronger
    return np.asarray(alphas[np.argmax(scores, axis=0)])


def _select(z: np.ndarray, ts: list[np.ndarray], kinds: list[str], fold: np.ndarray, blocks: dict[int, _Block],
            total: _Block) -> list[np.ndarray]:
    """Cross-validated ridge strength per target, folds given by ``fold`` (row -> fold id) and their blocks."""
    if len(blocks) < 2:
        return [np.full(t.shape[1], _DEFAULT_ALPHA) for t in ts]
    scores = [np.zeros((len(ALPHAS), t.shape[1])) for t in ts]
    for f, blk in blocks.items():
        va = fold == f
        eig = _Eig(total - blk)
        q = eig.coords(z[va])
        for j, (t, kind) in enumerate(zip(ts, kinds, strict=True)):
            for i, alpha in enumerate(ALPHAS):
                p = eig.predict(q, j, np.full(t.shape[1], alpha))
                if kind == "class":
                    scores[j][i, :] += float(np.sum(np.argmax(p, axis=1) == np.argmax(t[va], axis=1)))
                else:
                    scores[j][i, :] -= ((p - t[va]) ** 2).sum(axis=0)
    return [_choose(sc, kind) for sc, kind in zip(scores, kinds, strict=True)]


def _fold_blocks(z: np.ndarray, ts: list[np.ndarray], fold: np.ndarray) -> dict[int, _Block]:
    return {int(f): _Block.of(z[fold == f], [t[fold == f] for t in ts]) for f in np.unique(fold)}


def fit_ridge_many(z: np.ndarray, ys: list[tuple[np.ndarray, str]], groups: np.ndarray, *, n_folds: int = 5,
                   seed: int = 0) -> list[Ridge]:
    """One ridge model per ``(y, kind)`` on the same rows ``z``, sharing every fold's decomposition.

    The strength is picked by ``n_folds``-fold cross-validation over ``groups`` (classifiers: pooled
    accuracy; regressors: squared error per output); with fewer than 2 groups a fixed strength is used.
    """
    prepared = [_targets(np.asarray(y), kind) for y, kind in ys]
    ts, kinds = [t for t, _ in prepared], [kind for _, kind in ys]
    fold = group_folds(groups, n_folds, seed)
    blocks = _fold_blocks(z, ts, fold)
    total = sum(blocks.values(), start=_Block.of(z[:0], [t[:0] for t in ts]))
    alphas = _select(z, ts, kinds, fold, blocks, total)
    eig = _Eig(total)
    return [eig.model(j, a, classes) for j, (a, (_, classes)) in enumerate(zip(alphas, prepared, strict=True))]


def fit_ridge(z: np.ndarray, y: np.ndarray, groups: np.ndarray, *, kind: str = "class", n_folds: int = 5,
              seed: int = 0) -> Ridge:
    """``fit_ridge_many`` for one target."""
    return fit_ridge_many(z, [(y, kind)], groups, n_folds=n_folds, seed=seed)[0]


def loso_ridge(z: np.ndarray, subject: np.ndarray, ys: list[tuple[np.ndarray, str]], *, n_folds: int = 5,
               seed: int = 0) -> list[np.ndarray]:
    """Leave-one-subject-out: each subject's rows predicted by ridge fitted on the other subjects, the
    strength chosen by cross-validation over those other subjects only (nested, so nothing is tuned
    on the held-out person). Per target: class decisions ``(n, K)`` (columns ``np.unique(y)``) or values ``(n,)``."""
    prepared = [_targets(np.asarray(y), kind) for y, kind in ys]
    ts, kinds = [t for t, _ in prepared], [kind for _, kind in ys]
    subjects = np.unique(subject)
    blocks = {int(s): _Block.of(z[subject == s], [t[subject == s] for t in ts]) for s in subjects}
    out = [np.zeros(t.shape if kind == "class" else (len(t),)) for t, kind in zip(ts, kinds, strict=True)]
    for s in subjects:
        held = subject == s
        rest = np.flatnonzero(~held)
        fold_of_subject = dict(zip(subjects[subjects != s].tolist(),
                                   group_folds(subjects[subjects != s], n_folds, seed + int(s)).tolist(), strict=True))
        fold = np.array([fold_of_subject[int(v)] for v in subject[rest]])
        inner = {f: sum((blocks[k] for k, g in fold_of_subject.items() if g == f), start=_Block.of(z[:0], [t[:0] for t in ts]))
                 for f in set(fold_of_subject.values())}
        train = sum(inner.values(), start=_Block.of(z[:0], [t[:0] for t in ts]))
        alphas = _select(z[rest], [t[rest] for t in ts], kinds, fold, inner, train)
        eig = _Eig(train)
        q = eig.coords(z[held])
        for j, kind in enumerate(kinds):
            p = eig.predict(q, j, alphas[j])
            out[j][held] = p if kind == "class" else p[:, 0]
    return out
