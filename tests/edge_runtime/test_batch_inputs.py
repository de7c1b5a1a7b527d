"""``edge-anonymize batch`` on the HAPT and SisFall layouts (real files of ../shared/datasets): the
windows the trainer cuts from the same recording, one output per experiment / trial, an error per bad
file, no raw sample in any output, and no TensorFlow in the process."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from edge_runtime.batch_inputs import Task, find_tasks, hapt_windows, sisfall_windows
from edge_runtime.cli import main
from edge_runtime.contract import G, sliding_windows, to_view

from ..conftest import SHARED_DATASETS
from .test_batch import _lines, output_text

ROOT = Path(__file__).resolve().parents[2]
TRIALS = ["SisFall_dataset/SA01/D01_SA01_R01.txt", "SisFall_dataset/SA02/D05_SA02_R01.txt"]


@pytest.fixture(scope="module")
def sisfall_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two real trials and the Readme, in a zip laid out like the download."""
    src = SHARED_DATASETS / "sisfall" / "SisFall_dataset.zip"
    if not src.is_file():
        pytest.skip(f"SisFall not found at {src} (set EDGE_ANON_DATASETS)")
    dest = tmp_path_factory.mktemp("sisfall") / "SisFall_dataset.zip"
    with zipfile.ZipFile(src) as z, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as out:
        for name in ["SisFall_dataset/Readme.txt", *TRIALS]:
            out.writestr(name, z.read(name))
    return dest


def _hapt(root: Path, dest: Path, exps: tuple[str, ...] = ("exp01_user01",)) -> Path:
    raw = dest / "RawData"
    raw.mkdir(parents=True)
    for e in exps:
        for kind in ("acc", "gyro"):
            shutil.copy(root / "RawData" / f"{kind}_{e}.txt", raw)
    shutil.copy(root / "RawData" / "labels.txt", raw)
    return dest


def _expected(anonymizer, samples: np.ndarray, spec) -> np.ndarray:  # type: ignore[no-untyped-def]
    return np.stack([anonymizer.run(w) for w in sliding_windows(to_view(samples, spec.view), spec)])


def test_a_hapt_experiment_gives_the_trainers_windows_through_the_model(hapt_root: Path, manifest, anonymizer, bundle: Path,
                                                                         tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from trainer.data import load_hapt

    data = _hapt(hapt_root, tmp_path / "uci")
    (rec,) = load_hapt(data)
    got = np.concatenate([c[0] for c in hapt_windows(data / "RawData" / "acc_exp01_user01.txt", manifest, 64)])
    assert np.array_equal(got, sliding_windows(to_view(rec.samples, "magnitude"), manifest.window))  # same canonical samples
    assert main(["batch", str(data), "--out", str(tmp_path / "out"), "--bundle", str(bundle), "--batch", "100"]) == 0
    assert [p.name for p in (tmp_path / "out").rglob("*") if p.is_file()] == ["exp01_user01.jsonl"]
    recs = _lines(tmp_path / "out" / "RawData" / "exp01_user01.jsonl")
    assert {r["stream"] for r in recs} == {"RawData/exp01_user01"} and len(recs) == len(got) > 300
    assert [r["start_sample"] for r in recs] == list(range(0, 64 * len(recs), 64))
    np.testing.assert_allclose(np.array([r["data"] for r in recs]), _expected(anonymizer, rec.samples, manifest.window), atol=6e-6)


def test_sisfall_trials_from_the_zip_or_extracted_give_the_trainers_windows(sisfall_zip: Path, manifest, anonymizer, bundle: Path,
                                                                              tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from trainer.data import load_sisfall

    recs = {r.trial: r for r in load_sisfall(sisfall_zip)}  # 200 Hz -> 50 Hz by the trainer's decimate
    ext = tmp_path / "ext"
    with zipfile.ZipFile(sisfall_zip) as z:
        z.extractall(ext)
    tasks = list(find_tasks([str(sisfall_zip), str(ext)]))
    assert [(t.rel, t.member) for t in tasks if isinstance(t, Task)] == [(m, m) for m in TRIALS] + [(m, "") for m in TRIALS]
    for member, trial in zip(TRIALS, (10101, 20501), strict=True):
        got = np.concatenate([c[0] for c in sisfall_windows(sisfall_zip, member, manifest, 64)])
        assert np.array_equal(got, sliding_windows(to_view(recs[trial].samples, "magnitude"), manifest.window))
    for src, out in ((sisfall_zip, "out-zip"), (ext, "out-ext")):
        assert main(["batch", str(src), "--out", str(tmp_path / out), "--bundle", str(bundle), "--t-gateway", "3"]) == 0
    for member, trial in zip(TRIALS, (10101, 20501), strict=True):
        a = (tmp_path / "out-zip" / f"{member}.jsonl").read_bytes()
        assert a == (tmp_path / "out-ext" / f"{member}.jsonl").read_bytes()  # same stream name, same bytes
        got = [json.loads(line) for line in a.splitlines()]
        assert {r["stream"] for r in got} == {member} and len(got) > 10
        np.testing.assert_allclose(np.array([r["data"] for r in got]), _expected(anonymizer, recs[trial].samples, manifest.window),
                                   atol=6e-6)  # fmt: skip


def test_bad_hapt_and_sisfall_files_get_one_line_each_and_stop_nothing(hapt_root: Path, sisfall_zip: Path, bundle: Path,
                                                                        tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    data = _hapt(hapt_root, tmp_path / "in" / "uci")
    shutil.copy(data / "RawData" / "acc_exp01_user01.txt", data / "RawData" / "acc_exp02_user01.txt")  # no gyro_ beside it
    trial = tmp_path / "in" / "sis" / "SA03" / "D01_SA03_R01.txt"
    trial.parent.mkdir(parents=True)
    trial.write_bytes(b"1,2,3,4,5,6,7,8,9;\r\n1,2,3,4,x,6,7,8,9;\r\n")
    (tmp_path / "in" / "broken.zip").write_bytes(b"PK not a zip")  # in a folder walk: not a recording, ignored
    shutil.copy(sisfall_zip, tmp_path / "in" / "sis.zip")
    rc = main(["batch", str(tmp_path / "in"), str(tmp_path / "named.zip"), "--out", str(tmp_path / "out"), "--bundle", str(bundle)])
    err = capsys.readouterr().err
    assert rc == 1
    errors = sorted(ln for ln in err.splitlines() if ": error: " in ln)
    assert len(errors) == 3, err
    assert "batch: named.zip: error:" in errors[0]
    assert "batch: sis/SA03/D01_SA03_R01.txt: error: SisFall file D01_SA03_R01.txt holds b'x'" in errors[1]
    assert "batch: uci/RawData/exp02_user01: error: HAPT: gyro_exp02_user01.txt is missing beside acc_exp02_user01.txt" in errors[2]
    written = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert written == [f"{m}.jsonl" for m in TRIALS] + ["uci/RawData/exp01_user01.jsonl"]
    assert "Traceback" not in err


def _needles(values: list[float], tokens: list[str]) -> list[bytes]:
    """A planted value as the input wrote it and as a JSON float would show it (4 and 5 decimals); the
    planted values lie far outside what a released window holds, so a hit is a leak, not chance."""
    out = [t.encode() for t in tokens]
    for v in values:
        out += [f"{v:.4f}".encode(), repr(round(v, 5)).encode()]
    return out


def _found(blob: bytes, needles: list[bytes]) -> list[bytes]:
    """Needles that occur as numbers of their own (a float may run on into more digits; an integer may not)."""
    hits = []
    for n in needles:
        tail = rb"" if b"." in n else rb"(?![0-9])"
        if re.search(rb"(?<![0-9.])" + re.escape(n) + tail, blob):
            hits.append(n)
    return hits


def test_no_planted_hapt_or_sisfall_sample_reaches_an_output(hapt_root: Path, sisfall_zip: Path, bundle: Path, tmp_path: Path) -> None:
    data = _hapt(hapt_root, tmp_path / "in" / "uci")
    acc, gyro = ["7.31415926", "-6.27182818", "5.12345678"], ["31.23456789", "-29.87654321", "28.55555555"]
    for kind, row in (("acc", acc), ("gyro", gyro)):
        p = data / "RawData" / f"{kind}_exp01_user01.txt"
        lines = p.read_text().splitlines()
        lines[::7] = [" ".join(row)] * len(lines[::7])
        p.write_text("\n".join(lines) + "\n")
    counts = ["2345", "-1977", "3123", "-1811", "2221", "-3331"]
    trial = tmp_path / "in" / "sis" / "SA01" / "D01_SA01_R01.txt"
    trial.parent.mkdir(parents=True)
    with zipfile.ZipFile(sisfall_zip) as z:
        rows = z.read(TRIALS[0]).decode().split("\r\n")
    rows[::7] = [",".join([*counts, "0", "0", "0"]) + ";"] * len(rows[::7])
    trial.write_text("\r\n".join(rows))
    a = np.array([float(v) for v in acc]) * G
    g = np.array([float(v) for v in gyro])
    c = np.array([int(v) for v in counts], np.float64) * np.array([32 / 8192 * G] * 3 + [np.deg2rad(4000 / 65536)] * 3)
    values = [*a, *g, float(np.linalg.norm(a)), float(np.linalg.norm(g)), *c, float(np.linalg.norm(c[:3])), float(np.linalg.norm(c[3:]))]
    needles = _needles(values, acc + gyro + [v.lstrip("-") for v in counts])
    for fmt in ("jsonl", "parquet"):
        assert main(["batch", str(tmp_path / "in"), "--out", str(tmp_path / fmt), "--bundle", str(bundle), "--format", fmt,
                     "--t-gateway", "1"]) == 0  # fmt: skip
        outs = sorted(p for p in (tmp_path / fmt).rglob("*") if p.is_file())
        assert len(outs) == 2
        for out in outs:
            blob = output_text(out)
            assert len(blob) > 10_000 and _found(blob, needles) == [], out
    assert _found(b"[1.0,7.31415926,3]", needles) and _found(b"[3,-2345]", needles)  # the search does find them


def test_the_hapt_and_sisfall_readers_import_no_tensorflow(hapt_root: Path, sisfall_zip: Path, bundle: Path, tmp_path: Path) -> None:
    data = _hapt(hapt_root, tmp_path / "uci")
    code = ("import sys, json; from edge_runtime.cli import main; "
            f"rc = main(['batch', {str(data)!r}, {str(sisfall_zip)!r}, '--out', {str(tmp_path / 'out')!r}, '--bundle', {str(bundle)!r}]); "
            "print(json.dumps([rc, sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf_keras')), "
            "'trainer.data.sisfall' in sys.modules]))")  # fmt: skip
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1]) == [0, [], True]


def test_without_pyarrow_numpy_reads_the_same_samples(hapt_root: Path, manifest, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import edge_runtime.batch_inputs as bi
    import edge_runtime.batch_text as bt

    from .conftest import walk_counts
    from .test_batch import _csv

    data = _hapt(hapt_root, tmp_path / "uci")
    _csv(tmp_path / "w.csv", walk_counts(50 * 20))
    (tmp_path / "bad.csv").write_text("ax,ay,az,gx,gy,gz\n1,2,3,4,5,x\n")

    def read() -> list[np.ndarray]:
        return [np.concatenate([c[0] for c in gen]) for gen in (
            bi.hapt_windows(data / "RawData" / "acc_exp01_user01.txt", manifest, 64),
            bi.csv_windows(tmp_path / "w.csv", manifest, 64, 50.0, "g", "deg/s"))]  # fmt: skip

    with_arrow = read()
    monkeypatch.setattr(bt, "_TEXT_BLOCK", 4096)  # many blocks; the first one's guess of the row count falls short
    in_blocks = read()
    monkeypatch.setattr(bt, "_have_arrow", lambda: False)
    by_numpy = read()
    assert all(np.array_equal(a, b) and np.array_equal(a, c) for a, b, c in zip(with_arrow, in_blocks, by_numpy, strict=True))
    with pytest.raises(bi.SourceError, match=r"^not a numeric CSV \(could not convert"):
        list(bi.csv_windows(tmp_path / "bad.csv", manifest, 64, 50.0, "g", "deg/s"))
