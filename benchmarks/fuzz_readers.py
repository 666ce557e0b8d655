"""Fuzz the readers: seeded byte mutations and truncations of DICOM and NIfTI series.

Run: ``python benchmarks/fuzz_readers.py [--cases 5000] [--seed 0] [--realdata FOLDER]``.
Each case copies one slice's echoes of a source series (the bundled sample exam, and the real
GE knee series when its folder is given or found beside the checkout) or a small 4-D NIfTI with
its sidecar, damages one file (flipped bytes, random runs, extreme 16/32-bit values, inserted
or deleted bytes, truncation), and calls ``find_series``, ``load_series`` and ``discT2 info``.
An outcome is *handled* when the call succeeds or raises discT2's own error
(:class:`discT2.errors.DiscT2Error`); anything else is *unhandled* and listed. A case that runs
longer than ``--case-timeout`` seconds counts as a hang. The script prints the counts; its exit
status is 1 when any case was unhandled or hung.

The test suite runs the same cases (``tests/io/test_fuzz.py``) with a smaller count.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import random
import shutil
import signal
import sys
import tempfile
import time
import traceback
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "sample_data" / "S01" / "baseline" / "dicom"
REALDATA_KNEE = REPO.parent / "shared" / "realdata" / "knee_ge_mr750_3T_8echo"


@dataclass
class Source:
    """One valid series to damage: its files (copied whole) and which of them may be damaged."""

    name: str
    files: list[Path]
    targets: list[Path]


@dataclass
class Outcome:
    """What one case gave: ``'ok'``, ``'error'`` (discT2's own), ``'unhandled'`` or ``'hang'``."""

    kind: str
    detail: str = ""


class _Hang(BaseException):
    """Raised by the alarm when a case runs too long (BaseException: not caught by readers)."""


def dicom_source(folder: Path, name: str) -> Source:
    """One slice's echoes of the series in ``folder`` (small enough to load hundreds of times)."""
    from discT2 import find_series

    info = find_series(folder)[0]
    n_slices = info.n_slices or 1
    files = sorted(info.paths)
    per_slice = [f for i, f in enumerate(_by_position(files)) if i % n_slices == 0]
    return Source(name, per_slice, per_slice)


def _by_position(files: list[Path]) -> list[Path]:
    """Files sorted by slice position, then echo time (so that every n-th is one slice)."""
    import pydicom

    keyed = []
    for f in files:
        ds = pydicom.dcmread(f, stop_before_pixels=True)
        normal = np.cross(*np.reshape(np.asarray(ds.ImageOrientationPatient, float), (2, 3)))
        position = float(np.dot(normal, np.asarray(ds.ImagePositionPatient, float)))
        keyed.append((float(ds.EchoTime), round(position, 2), str(f), f))
    keyed.sort()
    return [k[3] for k in keyed]


def nifti_source(folder: Path, gz: bool) -> Source:
    """A small 4-D NIfTI (8 x 8 x 2 voxels, 6 echoes) with its BIDS sidecar."""
    from discT2 import MultiEchoSeries
    from discT2.io import save_nifti_series

    te = np.arange(1, 7) * 10.0
    rng = np.random.default_rng(0)
    data = 1000 * np.exp(-te / 80.0) * (1 + 0.05 * rng.standard_normal((8, 8, 2, 1)))
    series = MultiEchoSeries(data.astype(np.float32), te, np.diag([1.0, 1.0, 4.0, 1.0]), {})
    path = save_nifti_series(series, folder / ("echoes.nii.gz" if gz else "echoes.nii"))
    sidecar = path.with_name("echoes.json")
    return Source("nifti.gz" if gz else "nifti", [path, sidecar], [path, path, sidecar])


def mutate(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """One seeded damage of ``data``; returns the damaged bytes and a short description."""
    buf = bytearray(data)
    n = len(buf)
    if n == 0:
        return data, "empty"

    # most of a file's structure is in its first kilobytes: aim there more often
    def offset() -> int:
        return rng.randrange(min(n, 4096)) if rng.random() < 0.7 else rng.randrange(n)

    kind = rng.choice(["flip", "run", "int16", "int32", "insert", "delete", "truncate", "mix"])
    if kind == "flip":
        for _ in range(rng.randint(1, 16)):
            buf[offset()] ^= 1 << rng.randrange(8)
    elif kind == "run":
        at = offset()
        length = rng.randint(1, 64)
        buf[at : at + length] = bytes(rng.randrange(256) for _ in range(length))
    elif kind in ("int16", "int32"):
        width = 2 if kind == "int16" else 4
        value = rng.choice([0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF])
        at = offset()
        buf[at : at + width] = (value & ((1 << 8 * width) - 1)).to_bytes(width, "little")
    elif kind == "insert":
        at = offset()
        buf[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 32)))
    elif kind == "delete":
        at = offset()
        del buf[at : at + rng.randint(1, 32)]
    elif kind == "truncate":
        del buf[rng.randrange(n) :]
    else:
        for _ in range(rng.randint(2, 4)):
            buf = bytearray(mutate(bytes(buf), rng)[0])
    return bytes(buf), kind


def run_case(source: Source, seed: int, work: Path, case_timeout: float) -> Outcome:
    """Copy ``source`` into ``work``, damage one file with ``seed``, and read it three ways."""
    from discT2 import find_series, load_series
    from discT2.cli import main
    from discT2.errors import DiscT2Error

    rng = random.Random(seed)
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    for f in source.files:
        shutil.copyfile(f, work / f.name)
    target = work / rng.choice(source.targets).name
    damaged, kind = mutate(target.read_bytes(), rng)
    target.write_bytes(damaged)
    path = work if target.suffix not in (".nii", ".gz", ".json") else _nifti_path(work)
    where = f"{source.name} seed {seed} ({kind} of {target.name})"
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, case_timeout)
    outcome = Outcome("ok")
    try:
        with warnings.catch_warnings():
            # numeric warnings on absurd values are not what this looks for
            warnings.simplefilter("ignore")
            for call in (find_series, load_series):
                try:
                    call(path)
                except DiscT2Error:
                    outcome = Outcome("error")
            quiet = io.StringIO()
            with contextlib.redirect_stderr(quiet), contextlib.redirect_stdout(quiet):
                status = main(["-q", "info", str(path)])
            if status not in (0, 1, 2):
                return Outcome("unhandled", f"{where}: discT2 info exited {status}")
    except _Hang:
        return Outcome("hang", f"{where}: still running after {case_timeout} s")
    except Exception as exc:
        tb = traceback.extract_tb(exc.__traceback__)[-1]
        at = f"{Path(tb.filename).name}:{tb.lineno}"
        return Outcome("unhandled", f"{where}: {type(exc).__name__}: {str(exc)[:120]} at {at}")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    return outcome


def _nifti_path(work: Path) -> Path:
    return next(p for p in work.iterdir() if p.name.startswith("echoes.nii"))


def _alarm(signum, frame):  # pragma: no cover - only on a hang
    raise _Hang


def sources(scratch: Path, realdata: Path | None) -> list[Source]:
    """The bundled sample slice, a NIfTI, a gzipped NIfTI, and the real knee slice if present."""
    out = [dicom_source(SAMPLE, "sample DICOM")]
    for gz in (False, True):
        folder = scratch / f"nifti{int(gz)}"
        folder.mkdir(parents=True, exist_ok=True)
        out.append(nifti_source(folder, gz))
    if realdata is not None and realdata.is_dir():
        out.append(dicom_source(realdata, "real GE DICOM"))
    return out


def fuzz(
    n_cases: int,
    seed: int = 0,
    realdata: Path | None = None,
    time_budget_s: float | None = None,
    case_timeout: float = 20.0,
) -> tuple[Counter, list[str]]:
    """Run up to ``n_cases`` cases (round-robin over the sources); counts and problem lines."""
    counts: Counter = Counter()
    problems: list[str] = []
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="discT2-fuzz-") as tmp:
        scratch = Path(tmp)
        pool = sources(scratch, realdata)
        for i in range(n_cases):
            if time_budget_s is not None and time.monotonic() - start > time_budget_s:
                break
            source = pool[i % len(pool)]
            outcome = run_case(source, seed * 1_000_003 + i, scratch / "case", case_timeout)
            counts[outcome.kind] += 1
            if outcome.kind in ("unhandled", "hang"):
                problems.append(outcome.detail)
    return counts, problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--realdata", type=Path, default=REALDATA_KNEE)
    parser.add_argument("--case-timeout", type=float, default=20.0)
    args = parser.parse_args(argv)
    import logging

    for name in ("discT2", "nibabel"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    start = time.perf_counter()
    counts, problems = fuzz(args.cases, args.seed, args.realdata, None, args.case_timeout)
    elapsed = time.perf_counter() - start
    for line in problems:
        print(line)
    total = sum(counts.values())
    print(
        f"{total} cases in {elapsed:.0f} s: {counts['ok']} read, {counts['error']} refused with "
        f"discT2's error, {counts['unhandled']} unhandled exceptions, {counts['hang']} hangs"
    )
    print(json.dumps(dict(counts)))
    return 1 if counts["unhandled"] or counts["hang"] else 0


if __name__ == "__main__":
    sys.exit(main())
