"""What ``aae grid`` writes about its points: grid.json (atomic), grid.md and frontier.png.

Every number is copied from a bundle's manifest, i.e. the release gate's evaluation of the int8
model the runtime would run: on the training dataset's unseen people (identity attacker retrained
on the release, activity macro-F1), and with ``--cross`` on another dataset's people (the attack
suite: max over attackers, session vote, gender where the dataset has it). The frontier is drawn on
the cross dataset when there is one (the gate's bar), else on the training dataset. Baselines join
the Pareto check: a point a baseline dominates is not on the frontier. Gender (and a replacement
policy's numbers) come from the gate's protected-attribute block, where a run claims them.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from edge_runtime.manifest import Manifest

from .plots import _plt, save_figure
from .report import _atomic_write

__all__ = ["new_doc", "point_entry", "pareto_optimal", "write_doc", "finish"]

STATUSES = ("bundle", "rejected", "failed", "pending")


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) else None


def new_doc(points: list[Any], *, cross: str | None, eval_cfg: Any, meta: dict[str, Any] | None) -> dict[str, Any]:
    """grid.json before any point ran: every point pending."""
    axes: dict[str, list[Any]] = {}
    for p in points:
        for k, v in p.overrides.items():
            if v not in axes.setdefault(k, []):
                axes[k].append(v)
    return {"command": "aae grid", **(meta or {}), "axes": axes, "cross": cross,
            "gate_eval_config": None if eval_cfg is None else eval_cfg.to_dict(), "complete": False,
            "points": [{"name": p.name, "overrides": p.overrides, "status": "pending"} for p in points]}


def _numbers(m: Manifest) -> dict[str, Any]:
    """The gate's headline numbers of the int8 model (percent), plus the cross-dataset rows when gated on one."""
    gate = m.evaluation.get("gate") or {}
    q = gate.get("int8") or {}
    out: dict[str, Any] = {
        "dataset": (m.training.get("dataset") or {}).get("name"),
        "eval_quick": bool((gate.get("eval_config") or {}).get("quick_mode", False)),
        "identity_retrained": _num(q.get("identity_retrained_attacker")),
        "identity_raw_attacker": _num(q.get("identity_raw_attacker")),
        "identity_chance": _num(q.get("identity_chance")),
        "activity_f1": _num(q.get("activity_macro_f1")),
        "mse_normalized": _num(q.get("mse_normalized")),
    }
    prot = ((gate.get("protected") or {}).get("rows") or {}).get("int8") or {}  # export.protect_gate, when claimed
    for key, src in (("gender", "gender_max"), ("required_f1", "required_f1"), ("sensitive_vs_neutral", "sensitive_max")):
        if _num(prot.get(src)) is not None:
            out[key] = _num(prot.get(src))
    block = gate.get("cross_dataset")
    if block:
        rows = block.get("rows") or {}
        c = rows.get("int8") or {}
        lp = rows.get("lp5") or {}
        out["cross"] = {"dataset": block.get("dataset"), "identity_max": _num(c.get("identity_max")),
                        "identity_session": _num(c.get("identity_session")), "activity_f1": _num(c.get("activity_f1")),
                        "chance": _num(c.get("chance")), "dominates_lowpass": bool(block.get("pareto_vs_lowpass")),
                        "lowpass": {"identity_max": _num(lp.get("identity_max")), "activity_f1": _num(lp.get("activity_f1"))}}
        if _num(c.get("gender_max")) is not None:
            out["cross"]["gender"] = _num(c.get("gender_max"))
    return out


def _run_baselines(m: Manifest, run_dir: Path) -> dict[str, Any] | None:
    """The run evaluation's baselines (raw, resampled), comparable only with the gate's evaluator settings."""
    summary = m.evaluation.get("run") or {}
    rows = {k: {"identity_retrained": _num(v.get("identity_retrained_attacker")), "activity_f1": _num(v.get("activity_macro_f1"))}
            for k, v in summary.items() if k != "anonymizer" and isinstance(v, dict)}
    if not rows:
        return None
    try:
        run_cfg = (json.loads((run_dir / "run.json").read_text(encoding="utf-8")).get("evaluation") or {}).get("eval_config")
    except (OSError, ValueError):
        run_cfg = None
    return {"rows": rows, "comparable": run_cfg is not None and run_cfg == (m.evaluation.get("gate") or {}).get("eval_config")}


def point_entry(m: Manifest, out: Path, run_dir: Path, *, reused: bool) -> dict[str, Any]:
    """A finished point, from its bundle's manifest: paths relative to ``out``, verdict, numbers."""
    root = Path(m.root)
    failed = [k for k, c in (m.gate.get("checks") or {}).items() if not c.get("passed")]
    return {"status": "bundle" if m.gate_passed else "rejected", "bundle": root.relative_to(out).as_posix(),
            "run": run_dir.relative_to(out).as_posix(), "gate_passed": m.gate_passed, "gate_failed_checks": failed,
            "model_version": m.model_version, "signed": (root / "manifest.sig").is_file(), "reused": reused,
            "numbers": _numbers(m), "run_baselines": _run_baselines(m, run_dir),
            "train_minutes": _num(m.training.get("train_minutes")),  # the bundle's own cost, also when reused
            "gate_minutes": None if _num(m.gate.get("seconds")) is None else round(float(m.gate["seconds"]) / 60, 2)}


def pareto_optimal(rows: dict[str, tuple[float | None, float | None]]) -> set[str]:
    """Names no other row dominates; a row is (identity %, lower better; activity F1, higher better).
    A row with a missing number is never optimal and dominates nothing."""
    full = {k: (x, y) for k, (x, y) in rows.items() if x is not None and y is not None}

    def dominates(a: tuple[float, float], b: tuple[float, float]) -> bool:
        return a[0] <= b[0] and a[1] >= b[1] and a != b

    return {k for k, r in full.items() if not any(dominates(o, r) for j, o in full.items() if j != k)}


def _panels(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Own-dataset panel, plus the cross-dataset one when the gate had a cross dataset."""
    done = [p for p in doc["points"] if p.get("numbers")]
    own: dict[str, Any] = {"key": "own", "title": f"{done[0]['numbers']['dataset'] if done else '?'}: unseen people",
                           "x_label": "identity accuracy [%], attacker retrained on the int8 release",
                           "points": {p["name"]: (p["numbers"]["identity_retrained"], p["numbers"]["activity_f1"]) for p in done},
                           "chance": next((p["numbers"]["identity_chance"] for p in done), None), "baselines": {}}
    base = next((p["run_baselines"] for p in done if p.get("run_baselines")), None)
    if base is not None and base["comparable"]:
        own["baselines"] = {k: (v["identity_retrained"], v["activity_f1"]) for k, v in base["rows"].items()}
    panels = [own]
    crossed = [p for p in done if p["numbers"].get("cross")]
    if crossed:
        c0 = crossed[0]["numbers"]["cross"]
        panels.insert(0, {"key": "cross", "title": f"{c0['dataset']}: people no point trained on",
                          "x_label": "identity accuracy [%], max over attackers retrained on the int8 release",
                          "points": {p["name"]: (p["numbers"]["cross"]["identity_max"], p["numbers"]["cross"]["activity_f1"])
                                     for p in crossed},
                          "chance": c0["chance"], "baselines": {"lp5": (c0["lowpass"]["identity_max"], c0["lowpass"]["activity_f1"])}})
    for panel in panels:
        front = pareto_optimal({**{f"baseline:{k}": v for k, v in panel["baselines"].items()}, **panel["points"]})
        panel["pareto"] = [n for n in panel["points"] if n in front]
        panel["frontier"] = sorted((v for k, v in {**panel["baselines"], **panel["points"]}.items()
                                    if k in front or f"baseline:{k}" in front), key=lambda r: r[0])
    return panels


def write_doc(doc: dict[str, Any], out: Path) -> Path:
    doc["summary"] = {s: sum(p["status"] == s for p in doc["points"]) for s in STATUSES}
    return _atomic_write(out / "grid.json", json.dumps(doc, indent=2) + "\n")


def _plot(panels: list[dict[str, Any]], statuses: dict[str, str], path: Path) -> Path:
    plt = _plt()
    fig, axes = plt.subplots(1, len(panels), figsize=(6.6 * len(panels), 5.0), squeeze=False)
    order = {name: i + 1 for i, name in enumerate(statuses)}
    for ax, panel in zip(axes[0], panels, strict=True):
        for name, (x, y) in panel["baselines"].items():
            if x is not None and y is not None:
                ax.scatter(x, y, marker="*" if name == "raw" else "s", color="0.45", s=110 if name == "raw" else 50,
                           label=f"{name} (baseline)")
                ax.annotate(name, (x, y), textcoords="offset points", xytext=(6, -10), fontsize=7, color="0.35")
        for name, (x, y) in panel["points"].items():
            if x is None or y is None:
                continue
            color, passed = f"C{(order[name] - 1) % 10}", statuses[name] == "bundle"
            ax.scatter(x, y, marker="o", s=50, color=color, facecolors=color if passed else "none",
                       label=f"{order[name]}: {name}{'' if passed else ' (gate refused)'}")
            if name in panel["pareto"]:
                ax.scatter(x, y, marker="o", s=190, facecolors="none", edgecolors="black", linewidths=1.4)
            ax.annotate(str(order[name]), (x, y), textcoords="offset points", xytext=(6, 5), fontsize=8)
        if len(panel["frontier"]) > 1:
            xs, ys = zip(*panel["frontier"], strict=True)
            ax.step(xs, ys, where="post", color="black", lw=0.8, ls="--", label="Pareto frontier (ringed: optimal points)")
        if panel["chance"] is not None:
            ax.axvline(panel["chance"], color="grey", ls=":", lw=1, label="identity chance")
        ax.set_xlabel(panel["x_label"], fontsize=8)
        ax.set_ylabel("activity macro-F1 [%], int8 release", fontsize=8)
        ax.set_title(f"{panel['title']} (left and up is better)", fontsize=9)
        ax.legend(fontsize=6, loc="best")
        ax.grid(alpha=0.3)
    save_figure(fig, path)
    return path


def _f(v: Any) -> str:
    return "n/a" if v is None else f"{v:.1f}"


def _markdown(doc: dict[str, Any], panels: list[dict[str, Any]]) -> str:
    keys = list(doc["axes"])
    cross = doc.get("cross")
    gender = any("gender" in (p.get("numbers") or {}) for p in doc["points"])
    head = [*keys, "status", "identity retrained %", "identity raw-trained %", "activity F1"] + (["gender %"] if gender else [])
    head += [f"{cross} identity max %", f"{cross} session %", f"{cross} gender %", f"{cross} F1", "beats lp5"] if cross else []
    head += ["Pareto", "train / gate min", "bundle or error"]
    lines = [f"# Grid: {len(doc['points'])} points", "",
             f"Config {doc.get('config') or 'defaults'}, fixed {doc.get('fixed') or {}}; axes {doc['axes']}; summary "
             f"{doc['summary']}. Numbers: the release gate's evaluation of each int8 model (percent"
             + ("; quick evaluators: smoke numbers, not measurements" if (doc.get("gate_eval_config") or {}).get("quick_mode")
                else "") + ").", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    front = {p["key"]: set(p["pareto"]) for p in panels}
    names = {p["key"]: p["title"].split(":")[0] for p in panels}
    for p in doc["points"]:
        n, c = p.get("numbers") or {}, (p.get("numbers") or {}).get("cross") or {}
        row = [str(p["overrides"][k]) for k in keys] + [p["status"], _f(n.get("identity_retrained")),
                                                         _f(n.get("identity_raw_attacker")), _f(n.get("activity_f1"))]
        row += [_f(n.get("gender"))] if gender else []
        if cross:
            row += [_f(c.get("identity_max")), _f(c.get("identity_session")), _f(c.get("gender")), _f(c.get("activity_f1")),
                    ("yes" if c.get("dominates_lowpass") else "no") if c else "n/a"]
        row += [", ".join(names[k] for k, on in front.items() if p["name"] in on),
                f"{_f(p.get('train_minutes'))} / {_f(p.get('gate_minutes'))}",
                f"`{p['bundle']}`" if p.get("bundle") else (p.get("error") or "")]
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "Pareto: the datasets on which no other point or baseline is as good on identity (lower) and "
              "activity F1 (higher) and better on one of them; the frontier figure is drawn on each.", ""]
    for panel in panels:
        if panel["baselines"]:
            lines.append(f"Baselines ({panel['title']}): " + "; ".join(
                f"{k} identity {_f(x)} %, F1 {_f(y)}" for k, (x, y) in panel["baselines"].items()) + ".")
    base = next((p["run_baselines"] for p in doc["points"] if p.get("run_baselines")), None)
    if base is not None and not base["comparable"]:
        lines.append("The run evaluation's baselines used other evaluator settings than the gate: not drawn.")
    return "\n".join([*lines, "", ""])


def finish(doc: dict[str, Any], out: Path) -> dict[str, Any]:
    """Mark the Pareto-optimal points, write grid.json, grid.md and frontier.png; returns the document."""
    panels = _panels(doc)
    for p in doc["points"]:
        p["pareto"] = {panel["key"]: p["name"] in panel["pareto"] for panel in panels if p["name"] in panel["points"]}
    doc["frontier"] = {panel["key"]: {"title": panel["title"], "pareto": panel["pareto"], "baselines": panel["baselines"]}
                       for panel in panels}
    doc["complete"] = all(p["status"] != "pending" for p in doc["points"])
    statuses = {p["name"]: p["status"] for p in doc["points"]}
    drawn = any(panel["points"] for panel in panels)
    if drawn:
        _plot(panels, statuses, out / "frontier.png")
    write_doc(doc, out)
    _atomic_write(out / "grid.md", _markdown(doc, panels) + ("![frontier](frontier.png)\n" if drawn else ""))
    return doc
