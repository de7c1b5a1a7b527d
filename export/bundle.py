"""Write a model bundle atomically: build it in a temp folder beside the target, then swap it in.

    <bundle>/                   mode 0755, files 0644: a service user must be able to read a copy
      anonymizer_int8.tflite    the runtime's model (manifest ``model``)
      anonymizer_float.tflite   float reference (``artifacts``)
      anonymizer.onnx           for other runtimes (``artifacts``)
      manifest.json             edge_runtime.manifest schema, every file with its sha256
      manifest.sig              Ed25519 signature over manifest.json (with a signing key)
      MODEL_CARD.md             what it was trained on, attribution, measured numbers, limits

A crash at any point leaves either the previous bundle or the new one, never a mix; a bundle whose
gate failed never replaces one (``install.py`` has the rules).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from edge_runtime.contract import WindowSpec
from edge_runtime.manifest import Artifact, Manifest, TensorInfo, dump, load
from edge_runtime.signing import public_of, sign_bundle

from .convert import Converted, ExportError, _interpreter
from .gate import GateResult
from .install import plan, rejected_path, swap_in

__all__ = ["INT8_NAME", "FLOAT_NAME", "ONNX_NAME", "CARD_NAME", "write_bundle", "tensor_infos", "staged", "land", "reload"]

INT8_NAME = "anonymizer_int8.tflite"
FLOAT_NAME = "anonymizer_float.tflite"
ONNX_NAME = "anonymizer.onnx"
CARD_NAME = "MODEL_CARD.md"


def _write(path: Path, data: bytes) -> str:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(path, 0o644)  # whatever the umask: the gateway's service user reads the bundle
    return hashlib.sha256(data).hexdigest()


@contextmanager
def staged(dest: Path) -> Iterator[Path]:
    """A fresh 0755 temp folder beside ``dest`` to build a bundle in; removed if the block fails.

    Raises:
        ExportError: the folder cannot be made, or the block hit an OSError (message names ``dest``).
    """
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.tmp-"))
        os.chmod(tmp, 0o755)  # mkdtemp makes 0700: a service user could not read the bundle
    except OSError as exc:
        raise ExportError(f"cannot create the bundle folder beside {dest}: {exc.strerror}") from exc
    try:
        yield tmp
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ExportError(f"cannot write the bundle {dest}: {exc.strerror or exc}") from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def land(tmp: Path, dest: Path, manifest: Manifest, signing_key: Any) -> None:
    """Write ``manifest`` into ``tmp``, sign it (with a key) and swap ``tmp`` in as ``dest`` atomically."""
    dump(manifest, tmp)
    if signing_key is not None:
        sign_bundle(tmp, signing_key)
    swap_in(tmp, dest)


def reload(dest: Path, signing_key: Any) -> Manifest:
    """The bundle as the runtime reads it (its own signature checked when signed)."""
    return load(dest, allow_ungated=True, keys=None if signing_key is None else [public_of(signing_key)])


def tensor_infos(tflite: bytes) -> tuple[TensorInfo, TensorInfo]:
    """Input and output TensorInfo (shape without batch, dtype, scale/zero point) read from the model."""
    it = _interpreter(tflite)

    def info(d: dict[str, Any]) -> TensorInfo:
        dtype = "int8" if np.dtype(d["dtype"]) == np.int8 else "float32"
        scale, zp = d["quantization"]
        return TensorInfo(tuple(int(v) for v in d["shape"][1:]), dtype, float(scale), int(zp))

    return info(it.get_input_details()[0]), info(it.get_output_details()[0])


def _attribution(meta: dict[str, Any]) -> str:
    ds = meta.get("dataset") or {}
    if ds.get("attribution"):
        return str(ds["attribution"])
    if (meta.get("config") or {}).get("dataset", "hapt") == "hapt":
        from trainer.data import HAPT_ATTRIBUTION

        return HAPT_ATTRIBUTION
    return ""


def _window(run: Any) -> WindowSpec:
    spec: WindowSpec = run.spec
    stride = (run.meta.get("config") or {}).get("runtime_stride")
    return spec.with_stride(int(stride)) if stride else spec


def _fmt(v: Any) -> str:
    return "n/a" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v))


def _what(conf: dict[str, Any]) -> str:
    """What the model is, from its training config: a fixed release filter, or an AAE (with or without one)."""
    cut, center = float(conf.get("release_cutoff_hz") or 0), bool(conf.get("release_center"))
    parts = ([f"a zero-phase {cut:g} Hz low-pass per channel"] if cut > 0 else []) + (
        ["the window mean of |acc| set to g (the person's and device's offset removed)"] if center else [])
    filt = " and ".join(parts)
    if conf.get("learned", True) is False:
        return (f"A fixed release filter with no learned parts: {filt}, as one int8 matrix product per window. "
                "It is shipped instead of a learned autoencoder because it measured better on people of a dataset "
                "no model trained on (docs/results.md).")
    aae = ("An Anonymizing AutoEncoder (Malekzadeh et al., IoTDI'19) that transforms 50 Hz motion windows so that "
           "activity stays recognizable while the wearer's identity is harder to infer")
    return f"{aae}, followed by a fixed release filter ({filt})." if filt else f"{aae}."


def _cross_lines(block: dict[str, Any] | None) -> list[str]:
    """The gate's cross-dataset rows: every attacker retrained on the releases of people never trained on."""
    if not block:
        return []
    rows = block.get("rows") or {}
    chance = next((r.get("chance") for r in rows.values() if r.get("chance") is not None), None)
    lines = ["", f"## Cross-dataset check: {block.get('dataset')} ({block.get('n_subjects')} people the model never "
             f"saw, {block.get('n_windows')} windows; identity chance {_fmt(chance)} %)",
             "Every attacker retrained on the released windows; identity is the maximum over the attackers.", "",
             "| release | identity (window) | identity (1-minute session vote) | gender | activity macro-F1 |",
             "|---|---|---|---|---|"]
    for name, r in rows.items():
        pct = [("n/a" if r.get(k) is None else f"{float(r[k]):.1f}")
               for k in ("identity_max", "identity_session", "gender_max", "activity_f1")]
        lines.append(f"| {name} | {pct[0]} ({r.get('identity_max_attacker') or '?'}) | {pct[1]} | {pct[2]} | {pct[3]} |")
    verdict = "dominates" if block.get("pareto_vs_lowpass") else "does not dominate"
    return [*lines, "", f"int8 {verdict} the 5 Hz low-pass baseline ({block.get('reason') or 'no reason recorded'})."]


def _protected_lines(block: dict[str, Any] | None) -> list[str]:
    """The gate's gender / replacement-policy rows (export.protect_gate), on the run's unseen people."""
    if not block:
        return []
    pol = block.get("policy") or {}
    lines = ["", f"## Protected attributes and activities ({block.get('n_subjects')} people the model never saw)",
             (f"Policy {pol.get('name')}: required {', '.join(pol.get('required', []))}; released as neutral: "
              + ", ".join(f"{k} -> {v}" for k, v in (pol.get("replace") or {}).items()) if pol else "No replacement policy."),
             "", "| release | gender (max attacker) | required-activity F1 | sensitive vs neutral (balanced, chance 50) |",
             "|---|---|---|---|"]  # fmt: skip
    for name, r in (block.get("rows") or {}).items():
        lines.append(f"| {name} | {_fmt(r.get('gender_max'))} | {_fmt(r.get('required_f1'))} | {_fmt(r.get('sensitive_max'))} |")
    return lines


def model_card(m: Manifest, sizes: dict[str, int]) -> str:
    """A short human-readable card; every number is copied from the manifest."""
    tr, ev, gate = m.training, m.evaluation, m.gate
    ds = tr.get("dataset") or {}
    splits = tr.get("splits") or {}
    lines = [
        f"# Model card: anonymizer {m.model_version}",
        "",
        _what(tr.get("config") or {}),
        "",
        "## Training data",
        f"- Dataset: {ds.get('name', tr.get('config', {}).get('dataset', '?'))}, {ds.get('windows', '?')} windows; "
        f"activities: {', '.join(ds.get('activities', [])) or '?'}.",
        f"- Anonymizer trained on subjects {splits.get('train_subjects', '?')}; never saw subjects "
        f"{splits.get('test_subjects', '?')} (used to test activity recognition on unseen people).",
        f"- Window: {m.window.length} samples at {m.window.rate_hz:g} Hz, channels {', '.join(m.window.channels)} "
        f"({', '.join(m.window.units)}), runtime stride {m.window.stride}.",
        f"- Attribution: {m.attribution or 'n/a'}",
        "",
        "## Measured (held-out windows; percent)",
        "| variant | activity macro-F1 | identity, raw-trained attacker | identity, retrained attacker | chance |",
        "|---|---|---|---|---|",
    ]
    run_eval = ev.get("run") or {}
    for name in ("raw", "anonymizer"):
        r = run_eval.get(name)
        if r:
            lines.append(
                f"| {name} (run evaluation, Keras) | {_fmt(r.get('activity_macro_f1'))} | "
                f"{_fmt(r.get('identity_raw_attacker'))} | {_fmt(r.get('identity_retrained_attacker'))} | "
                f"{_fmt(r.get('identity_chance'))} |"
            )
    g = ev.get("gate") or {}
    for name in ("float", "int8"):
        r = g.get(name)
        if r:
            lines.append(
                f"| {name} (release gate) | {_fmt(r['activity_macro_f1'])} (fixed evaluator "
                f"{_fmt(r.get('activity_macro_f1_fixed_evaluator'))}) | {_fmt(r['identity_raw_attacker'])} | "
                f"{_fmt(r['identity_retrained_attacker'])} | {_fmt(r['identity_chance'])} |"
            )
    lines += _cross_lines(g.get("cross_dataset"))
    lines += _protected_lines(g.get("protected"))
    lines += ["", f"## Release gate: {'PASSED' if gate.get('passed') else 'NOT PASSED'}", ""]
    for name, c in (gate.get("checks") or {}).items():
        lines.append(
            f"- {name}: {_fmt(c['value'])} {c['unit']} (limit {_fmt(c['limit'])}) {'ok' if c['passed'] else 'FAILED'}"
        )
    lines += [
        "",
        "## Files",
        *[f"- {k}: {v} bytes" for k, v in sizes.items()],
        f"- Converted with tensorflow {m.versions.get('tensorflow')}, checked in ai_edge_litert "
        f"{m.versions.get('ai_edge_litert')}; ONNX opset {m.versions.get('onnx_opset')} via "
        f"{m.versions.get('onnx_converted_via')}.",
        "",
        "## Limits",
        "- Measured against the attackers listed above (CNNs on windows); a stronger or differently informed "
        "attacker may do better. Identity is reduced, not removed: do not treat released windows as anonymous data.",
        "- Trained on smartphone-at-the-waist recordings of a few dozen adults; other placements, devices, "
        "populations or activities are untested.",
        "- Input must match the window above (rate, channels, units); the runtime refuses other streams.",
    ]
    conf = tr.get("config") or {}
    if conf.get("release_center") and not conf.get("release_keep_static_mad"):
        f1 = (g.get("int8") or {}).get("activity_macro_f1")
        lines.append(
            "- Every window's |acc| offset is removed, and in magnitude windows that offset is also the only cue that "
            f"separates sitting, standing and lying: activity macro-F1 on the gate's evaluation above is {_fmt(f1)}. "
            "Apps that need static postures should not use this model."
        )
    cross = (gate.get("checks") or {}).get("activity_macro_f1_delta") or {}
    if cross.get("value") is not None and cross["value"] > 1.0:
        lines.append(
            f"- An activity classifier trained on *float*-model releases loses {_fmt(cross['value'])} F1 points on "
            "this int8 model's releases: train app classifiers on releases of this bundle, do not mix the two."
        )
    return "\n".join([*lines, ""])


def write_bundle(out: str | os.PathLike[str], conv: Converted, run: Any, gate: GateResult, *,
                 signing_key: Any = None, allow_ungated: bool = False, force: bool = False) -> Manifest:  # fmt: skip
    """Write the bundle for ``run`` (a ``trainer.checkpoint.Run``) atomically; returns its manifest,
    whose ``root`` is where it landed: ``out``, or ``<out>.rejected`` when the gate failed.

    Args:
        signing_key: an Ed25519 private key (``edge_runtime.signing.load_private_key``): writes
            ``manifest.sig``. Without one the bundle is unsigned (the gateway refuses it by default).
        allow_ungated: an ungated bundle (--skip-gate/--allow-failed) may land in ``out``, if that
            holds no bundle yet (or ``force``).
    Raises:
        ExportError: ``out`` is not a bundle (never overwritten), a rule of ``install.plan`` forbids
            the write, or the files cannot be written.
    """
    target = plan(out, allow_ungated=allow_ungated, force=force, signed=signing_key is not None).out
    dest = target if gate.passed or allow_ungated else rejected_path(target)
    with staged(dest) as tmp:
        sha = {
            name: _write(tmp / name, data)
            for name, data in ((INT8_NAME, conv.int8_tflite), (FLOAT_NAME, conv.float_tflite), (ONNX_NAME, conv.onnx))
        }
        inp, outp = tensor_infos(conv.int8_tflite)
        meta = run.meta
        sizes = {INT8_NAME: len(conv.int8_tflite), FLOAT_NAME: len(conv.float_tflite), ONNX_NAME: len(conv.onnx)}
        manifest = Manifest(
            model_version=f"{run.root.name}-{sha[INT8_NAME][:12]}",
            model=Artifact(INT8_NAME, sha[INT8_NAME], "tflite", "int8" if conv.io == "int8" else "int8-float-io"),
            input=inp,
            output=outp,
            window=_window(run),
            normalization=run.norm,
            versions={
                **{k: str(v) for k, v in conv.versions.items()},
                **{f"trained_with_{k}": str(v) for k, v in (meta.get("versions") or {}).items()},
            },
            gate=gate.to_dict(),
            attribution=_attribution(meta),
            training={k: meta.get(k) for k in ("dataset", "splits", "config", "model", "best_round", "train_minutes")}
            | {"run": run.root.name} | ({"grid": meta["grid"]} if meta.get("grid") else {}),  # aae grid's point
            evaluation={
                "run": (meta.get("evaluation") or {}).get("summary"),
                "gate": gate.evaluation,
                "sizes_bytes": sizes,
            },
            artifacts=(
                Artifact(FLOAT_NAME, sha[FLOAT_NAME], "tflite", "float32"),
                Artifact(ONNX_NAME, sha[ONNX_NAME], "onnx", "float32"),
            ),
            root=tmp,
        )
        _write(tmp / CARD_NAME, model_card(manifest, sizes).encode("utf-8"))
        land(tmp, dest, manifest, signing_key)
    return reload(dest, signing_key)
