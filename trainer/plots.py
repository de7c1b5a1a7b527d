"""Report figures (matplotlib, Agg): example windows, spectrograms, privacy-utility trade-off."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["plot_examples", "plot_spectrograms", "plot_tradeoff", "plot_privacy_utility"]


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: Path, *, dpi: int = 110) -> Path:
    """Lay out, write and close ``fig`` (a report draws many: an open figure holds its memory)."""
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    _plt().close(fig)
    return path


def plot_examples(examples: dict[str, Any], path: Path) -> Path:
    """One row per activity, one column per channel: the raw window and every released version."""
    plt = _plt()
    raw, labels, channels = examples["raw"], examples["labels"], examples["channels"]
    released: dict[str, np.ndarray] = examples.get("released", {})
    t = np.arange(raw.shape[1]) / float(examples.get("rate_hz", 50.0))
    fig, axes = plt.subplots(len(labels), len(channels), figsize=(4.2 * len(channels), 1.9 * len(labels)), squeeze=False)
    for i, label in enumerate(labels):
        for c, ch in enumerate(channels):
            ax = axes[i][c]
            ax.plot(t, raw[i, :, c], color="black", lw=1.2, label="raw")
            for name, y in released.items():
                ax.plot(t, y[i, :, c], lw=0.9, alpha=0.85, label=name)
            ax.set_title(f"{label} - {ch}", fontsize=8)
            ax.tick_params(labelsize=7)
    axes[0][0].legend(fontsize=6, loc="upper right")
    for ax in axes[-1]:
        ax.set_xlabel("time [s]", fontsize=8)
    return save_figure(fig, path)


def _spectrogram(windows: np.ndarray, nfft: int = 64, hop: int = 16) -> np.ndarray:
    """Power [dB] of ``(K, W)`` windows laid end to end, ``(nfft//2+1, frames)``.

    Frames never cross a window boundary (the joins are not signal) and each window's mean is
    removed, so a stripe in the figure is content, not an artefact of the layout.
    """
    x = np.asarray(windows, np.float64)
    x = x - x.mean(axis=1, keepdims=True)
    starts = range(0, x.shape[1] - nfft + 1, hop)
    frames = np.concatenate([np.stack([w[s : s + nfft] for s in starts]) for w in x])  # (K*F, nfft)
    p = np.abs(np.fft.rfft(frames * np.hanning(nfft), axis=1)) ** 2
    return np.asarray((10.0 * np.log10(np.maximum(p, 1e-12))).T)


def plot_spectrograms(examples: dict[str, Any], path: Path, variant: str | None = None) -> Path:
    """Spectrograms of the example windows laid end to end, raw (top) vs one released variant (bottom)."""
    plt = _plt()
    released: dict[str, np.ndarray] = examples.get("released", {})
    name = variant if variant in released else next(iter(released), None)
    rate = float(examples.get("rate_hz", 50.0))
    rows = [("raw", examples["raw"])] + ([(name, released[name])] if name is not None else [])
    channels = examples["channels"]
    fig, axes = plt.subplots(len(rows), len(channels), figsize=(5.0 * len(channels), 2.4 * len(rows)), squeeze=False)
    for r, (title, w) in enumerate(rows):
        for c, ch in enumerate(channels):
            s = _spectrogram(w[:, :, c])
            dur = w.shape[0] * w.shape[1] / rate
            im = axes[r][c].imshow(s, origin="lower", aspect="auto", extent=(0, dur, 0, rate / 2), vmin=-60, vmax=s.max())
            axes[r][c].set_title(f"{title} - {ch} ({' | '.join(examples['labels'])})", fontsize=7)
            axes[r][c].set_ylabel("Hz", fontsize=8)
            axes[r][c].set_xlabel("time [s], example windows end to end", fontsize=7)
            fig.colorbar(im, ax=axes[r][c], label="dB")
    return save_figure(fig, path)


def plot_tradeoff(results: dict[str, Any], path: Path) -> Path:
    """Activity macro-F1 vs identity accuracy per variant; filled = retrained attacker, hollow = raw-trained."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    chance = None
    for i, (name, r) in enumerate(results["variants"].items()):
        color = f"C{i % 10}"
        f1 = r["activity"]["macro_f1"]
        ret, raw = r["identity_retrained_attacker"], r["identity_raw_attacker"]
        ax.scatter(ret["accuracy"], f1, color=color, s=60, label=f"{name} (retrained attacker)")
        ax.scatter(raw["accuracy"], f1, facecolors="none", edgecolors=color, s=60)
        ax.annotate(name, (ret["accuracy"], f1), textcoords="offset points", xytext=(5, 4), fontsize=8)
        chance = ret["chance"]
    if chance is not None:
        ax.axvline(chance, color="grey", ls="--", lw=1, label="identity chance")
    ax.set_xlabel("identity accuracy on trial B [%] (filled: retrained attacker, hollow: raw-trained)")
    ax.set_ylabel("activity macro-F1, unseen people [%]")
    ax.set_title("privacy-utility trade-off (left and up is better)", fontsize=10)
    ax.legend(fontsize=7, loc="best")
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def plot_privacy_utility(rows: dict[str, dict[str, Any]], path: Path, *, baselines: tuple[str, ...] = (),
                         title: str = "") -> Path:
    """Every variant on one chart: x = identity accuracy of the strongest retrained attacker, y =
    activity macro-F1 (bar: sd over seeds); hollow diamond = session-vote identity. Baselines grey
    squares, models coloured circles, raw a star; chance is the dashed line."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.0, 5.0))
    chance = None
    for i, (name, r) in enumerate(rows.items()):
        x, y = r.get("identity_max"), r.get("activity_f1")
        if x is None or y is None:
            continue
        base = name in baselines
        color = "0.45" if base else f"C{i % 10}"
        marker = "*" if name == "raw" else ("s" if base else "o")
        ax.errorbar(x, y, yerr=r.get("activity_f1_sd") or 0.0, fmt=marker, color=color, ms=11 if name == "raw" else 8,
                    capsize=3, label=f"{name} ({'baseline' if base else 'model'})")
        if r.get("identity_session") is not None:
            ax.scatter(r["identity_session"], y, marker="D", facecolors="none", edgecolors=color, s=40)
            ax.plot([x, r["identity_session"]], [y, y], color=color, lw=0.6, ls=":")
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(6, 5), fontsize=8)
        chance = r.get("chance", chance)
    if chance is not None:
        ax.axvline(chance, color="grey", ls="--", lw=1, label="identity chance")
    ax.set_xlabel("identity accuracy [%], max over retrained attackers (hollow diamond: session vote)")
    ax.set_ylabel("activity macro-F1, unseen people [%]")
    ax.set_title(title or "privacy-utility (left and up is better)", fontsize=10)
    ax.legend(fontsize=7, loc="best")
    ax.grid(alpha=0.3)
    return save_figure(fig, path)
