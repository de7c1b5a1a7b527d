"""SisFall loader for the official layout: ``SisFall_dataset/SAxx/Dxx_SAxx_Rxx.txt`` + ``Readme.txt``.

Read straight from ``SisFall_dataset.zip`` (as downloaded) or from an extracted folder. One waist
device at 200 Hz: ADXL345 acc (columns 1-3, 13 bit, ±16 g: 1/256 g a count, gravity included) and
ITG3200 gyro (columns 4-6, 16 bit, ±2000 °/s: 4000/65536 °/s a count); the MMA8451Q (7-9) is not
used. Samples become canonical m/s² and rad/s, then are decimated to 50 Hz with an
anti-aliasing low-pass (``resample.decimate``).

Ids: the subject comes from the *folder* (``SA15/`` holds SA15's D17 trials under the name
``D17_SE15_*``): SAxx -> xx, SExx -> 100 + xx. Trial id = subject * 10000 + activity * 100 +
trial number, so ``SA15/D17_SE15_R03.txt`` is subject 15, trial 151703, unique in the dataset.
Every sample of a trial carries the trial's label (``taxonomy.SISFALL_FINE``). By default only the
young adults (SA) and the ADLs (D) are loaded; ``elderly=True`` adds SE folders; falls are skipped.
Subject attributes come from ``subjects.csv`` beside the zip/folder, else from the Readme's table.
"""

from __future__ import annotations

import csv
import re
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from edge_runtime.contract import G

from ..errors import DatasetError
from .recording import ACTIVITIES, Recording, SubjectInfo
from .resample import decimate
from .sisfall_text import arrow_counts
from .taxonomy import SISFALL_FINE

__all__ = [
    "load_sisfall", "looks_like_sisfall", "parse_counts", "parse_readme_subjects", "parse_subjects_csv",
    "subject_id", "to_canonical", "ATTRIBUTION", "SOURCE_RATE_HZ", "ACC_G_PER_COUNT", "GYRO_DEG_S_PER_COUNT",
]

ATTRIBUTION = (
    "Trained on SisFall (Sucerquia, López, Vargas-Bonilla, 'SisFall: A Fall and Movement Dataset', "
    "Sensors 17(1):198, 2017, doi:10.3390/s17010198)."
)
SOURCE_RATE_HZ = 200.0
ACC_G_PER_COUNT = 32 / 8192          # ADXL345: (2 * 16 g) / 2^13
GYRO_DEG_S_PER_COUNT = 4000 / 65536  # ITG3200: (2 * 2000 °/s) / 2^16, as the Readme documents
_HINT = "point --data at the folder holding SisFall_dataset.zip, at the zip, or at the extracted SisFall_dataset/ folder"
_MEMBER = re.compile(r"(?:^|/)(S[AE])(\d\d)/([DF])(\d\d)_S[AE]\d\d_R(\d\d)\.txt$")
_SUBJECT_DIR = re.compile(r"^S[AE]\d\d$")
_SEPARATORS = bytes.maketrans(b",;", b"  ")
_ALLOWED = b"0123456789-,; \t\r\n"


def subject_id(code: str) -> int:
    """``SA07`` -> 7, ``SE07`` -> 107."""
    return int(code[2:]) + (100 if code[:2] == "SE" else 0)


def parse_counts(data: bytes, where: str) -> np.ndarray:
    """One trial file's bytes -> ``(N, 9)`` int32 raw counts: one row of 9 comma-separated integers a line.

    The ``;`` ending each row, blank lines and stray whitespace (``SA21/D05_SA21_R03.txt`` ends in
    spaces after its last CRLF) are ignored.

    Plain files are parsed by pyarrow where it is installed (``sisfall_text``, same array, about 8x
    faster on a long trial); anything else, and every error, by numpy here.

    Raises:
        DatasetError: empty, a stray character, or a row without 9 values (names ``where``).
    """
    fast = arrow_counts(data)
    if fast is not None:
        return fast
    text = data.strip()
    if not text:
        raise DatasetError(f"SisFall file {where} is empty")
    stray = text.translate(None, _ALLOWED)
    if stray:
        raise DatasetError(f"SisFall file {where} holds {stray[:1]!r} at byte {text.index(stray[:1])}; only integer rows are valid")
    try:
        flat = np.fromstring(text.translate(_SEPARATORS), dtype=np.int64, sep=" ")
    except ValueError as exc:
        raise DatasetError(f"SisFall file {where} is corrupt: {exc}") from exc
    b = np.frombuffer(text, np.uint8)
    commas = np.cumsum(b == ord(","), dtype=np.int64)
    per_line = np.diff(np.concatenate([[0], commas[b == ord("\n")], commas[-1:]]))  # commas on each line
    odd = np.flatnonzero((per_line != 8) & (per_line != 0))
    if len(odd):
        raise DatasetError(f"SisFall file {where}: line {odd[0] + 1} holds {per_line[odd[0]] + 1} values, a row must hold 9")
    rows = int((per_line == 8).sum())
    if flat.size != 9 * rows:
        raise DatasetError(f"SisFall file {where}: {flat.size} values in {rows} rows of 9 (a value outside a row?)")
    if np.abs(flat).max() > 32768:
        raise DatasetError(f"SisFall file {where} holds a count outside the 16-bit sensor range")
    return flat.reshape(rows, 9).astype(np.int32)


def _number(value: str, where: str) -> float:
    try:
        return float(value)
    except ValueError as exc:
        raise DatasetError(f"{where}: {value!r} is not a number") from exc


def _info(age: str, height: str, weight: str, gender: str, where: str) -> SubjectInfo:
    g = gender.strip().upper()
    if g not in ("M", "F"):
        raise DatasetError(f"{where}: gender {gender!r} is not M or F")
    return SubjectInfo(g, _number(age, where), _number(height, where), _number(weight, where))


def parse_subjects_csv(text: str, where: str) -> dict[str, SubjectInfo]:
    """``code,age,height_cm,weight_kg,gender`` rows -> {code: SubjectInfo}."""
    rows = list(csv.DictReader(text.splitlines()))
    need = ("code", "age", "height_cm", "weight_kg", "gender")
    if not rows or any(k not in rows[0] for k in need):
        raise DatasetError(f"{where} must have the columns {','.join(need)}")
    return {r["code"].strip(): _info(r["age"], r["height_cm"], r["weight_kg"], r["gender"], f"{where} row {r['code']}") for r in rows}


def parse_readme_subjects(text: str, where: str) -> dict[str, SubjectInfo]:
    """The Readme's ``| Subject | Age | Height | Weight | Gender |`` table -> {code: SubjectInfo}."""
    cols: dict[str, int] | None = None
    out: dict[str, SubjectInfo] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        names = [c.lower() for c in cells]
        if {"subject", "age", "height", "weight", "gender"} <= set(names):
            cols = {n: names.index(n) for n in ("subject", "age", "height", "weight", "gender")}
        elif cols is not None and len(cells) > max(cols.values()) and re.fullmatch(r"S[AE]\d\d", cells[cols["subject"]]):
            code = cells[cols["subject"]]
            age, height, weight, gender = (cells[cols[n]] for n in ("age", "height", "weight", "gender"))
            out[code] = _info(age, height, weight, gender, f"{where} row {code}")
    return out


class _Source:
    """Trial files and the Readme, from a zip or a folder; ``beside`` = where subjects.csv may lie.

    ``members`` maps ``.../SAxx/name.txt`` (matched by ``_MEMBER``) to a handle for ``read``.
    """

    def __init__(self, root: Path) -> None:
        self.zip: zipfile.ZipFile | None = None
        if root.is_file():
            self._open_zip(root)
            self.beside: tuple[Path, ...] = (root.parent,)
        elif root.is_dir() and any(_SUBJECT_DIR.match(p.name) for p in root.iterdir() if p.is_dir()):
            self._open_dir(root)
            self.beside = (root, root.parent)
        elif (root / "SisFall_dataset").is_dir():
            self._open_dir(root / "SisFall_dataset")
            self.beside = (root / "SisFall_dataset", root)
        elif (root / "SisFall_dataset.zip").is_file():
            self._open_zip(root / "SisFall_dataset.zip")
            self.beside = (root,)
        else:
            raise DatasetError(f"SisFall not found in {root} ({_HINT})")

    def _open_zip(self, path: Path) -> None:
        try:
            self.zip = zipfile.ZipFile(path)
        except (OSError, zipfile.BadZipFile) as exc:
            raise DatasetError(f"SisFall archive {path} is not a readable zip: {exc}") from exc
        self.where = str(path)
        names = self.zip.namelist()
        self.members = {n: n for n in names if _MEMBER.search(n)}
        readmes = sorted((n for n in names if n.rsplit("/", 1)[-1].lower() == "readme.txt"), key=len)
        self.readme: str | None = readmes[0] if readmes else None

    def _open_dir(self, path: Path) -> None:
        self.where = str(path)
        self.members = {f"{p.parent.name}/{p.name}": str(p) for p in path.glob("S[AE][0-9][0-9]/*.txt") if _MEMBER.search(f"{p.parent.name}/{p.name}")}
        readme = next((p for p in path.iterdir() if p.name.lower() == "readme.txt"), None)
        self.readme = str(readme) if readme is not None else None

    def label(self, handle: str) -> str:
        """How a file is named in messages: ``archive.zip:member`` or its path."""
        return f"{self.where}:{handle}" if self.zip is not None else handle

    def read(self, handle: str) -> bytes:
        try:
            return self.zip.read(handle) if self.zip is not None else Path(handle).read_bytes()
        except (OSError, zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise DatasetError(f"SisFall file {self.label(handle)} is unreadable: {exc}") from exc

    def close(self) -> None:
        if self.zip is not None:
            self.zip.close()


def _subject_table(src: _Source) -> dict[str, SubjectInfo]:
    for folder in src.beside:
        p = folder / "subjects.csv"
        if p.is_file():
            try:
                return parse_subjects_csv(p.read_text(encoding="utf-8-sig"), str(p))
            except (OSError, UnicodeDecodeError) as exc:
                raise DatasetError(f"{p} is unreadable: {exc}") from exc
    if src.readme is None:
        raise DatasetError(f"SisFall subject table not found: no subjects.csv beside {src.where} and no Readme.txt in it")
    table = parse_readme_subjects(src.read(src.readme).decode("cp1252", errors="replace"), src.label(src.readme))
    if not table:
        raise DatasetError(f"SisFall Readme {src.label(src.readme)} holds no subject table")
    return table


_SCALE = np.array([ACC_G_PER_COUNT * G] * 3 + [float(np.deg2rad(GYRO_DEG_S_PER_COUNT))] * 3)


def to_canonical(counts: np.ndarray) -> np.ndarray:
    """``(N, 9)`` raw counts -> ``(N, 6)`` float64 acc m/s² (ADXL345) + gyro rad/s (ITG3200)."""
    return np.asarray(counts[:, :6] * _SCALE)  # one pass (a day at 200 Hz: 0.07 s, not 0.45 s for two and a concatenate)


def looks_like_sisfall(path: Path) -> bool:
    """Whether ``path`` is one of the roots ``load_sisfall`` accepts (no file is read)."""
    if path.is_file():
        return path.suffix.lower() == ".zip"
    return path.is_dir() and (
        (path / "SisFall_dataset.zip").is_file() or (path / "SisFall_dataset").is_dir()
        or any(_SUBJECT_DIR.match(p.name) for p in path.iterdir() if p.is_dir())
    )


def load_sisfall(
    root: str | Path, *, subjects: Iterable[int] | None = None, elderly: bool = False, rate_hz: float = 50.0
) -> list[Recording]:
    """Load the ADL trials under ``root``: the zip, the folder holding it, or an extracted folder (or its parent).

    Args:
        subjects: subject ids to load (SAxx -> xx, SExx -> 100 + xx); None = all.
        elderly: also load the SE folders of a full archive.
        rate_hz: output rate; 200 Hz divided by an integer.

    Raises:
        DatasetError: dataset missing, a file corrupt (named), no subject table, or nothing matched.
    """
    root = Path(root)
    factor = SOURCE_RATE_HZ / rate_hz if rate_hz > 0 else 0.5
    if factor < 1 or factor != int(factor):
        raise DatasetError(f"SisFall is {SOURCE_RATE_HZ:g} Hz; rate_hz must divide it by an integer, got {rate_hz}")
    wanted = None if subjects is None else {int(s) for s in subjects}
    src = _Source(root)
    try:
        table = _subject_table(src)
        recs: dict[int, Recording] = {}
        files: dict[int, str] = {}
        for key, handle in sorted(src.members.items()):
            m = _MEMBER.search(key)
            assert m is not None
            person, kind, code, trial_no = m.group(1) + m.group(2), m.group(3), int(m.group(4)), int(m.group(5))
            group, sid = m.group(1), subject_id(person)
            if kind != "D" or (group == "SE" and not elderly) or (wanted is not None and sid not in wanted):
                continue
            if code not in SISFALL_FINE:
                raise DatasetError(f"SisFall file {src.label(handle)}: unknown ADL code D{code:02d}")
            trial = sid * 10000 + code * 100 + trial_no
            if trial in files:
                raise DatasetError(
                    f"SisFall has two files for {person} D{code:02d} R{trial_no:02d}: {src.label(files[trial])}, {src.label(handle)}"
                )
            files[trial] = handle
            samples = decimate(to_canonical(parse_counts(src.read(handle), src.label(handle))), int(factor)).astype(np.float32)
            name = SISFALL_FINE[code]
            labels = np.full(len(samples), -1 if name is None else ACTIVITIES.index(name), np.int8)
            recs[trial] = Recording("sisfall", sid, trial, samples, labels, rate_hz, table.get(person))
    finally:
        src.close()
    if not recs:
        raise DatasetError(f"no SisFall ADL trials (SAxx/Dxx_SAxx_Rxx.txt) matched in {src.where}")
    return list(recs.values())
