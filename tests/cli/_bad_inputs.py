"""A generated corpus of bad, odd and hostile inputs for the ``discT2`` command, with outcomes.

Every case builds its inputs in an empty folder (small synthetic series written on the fly; no
binary files are stored) and names the command to run and the one outcome it must have:

- ``error``: exit status ``exit`` (2 unless said), exactly one ``ERROR:`` line on stderr (progress
  lines at INFO level may precede it), matching ``match`` (which names the file or field), no
  traceback, and no file created, changed or removed anywhere in the case's folder;
- ``ok``: exit status 0 and ``check(folder, stderr)`` holds (the result is right).

``tests/cli/test_bad_inputs.py`` runs every case in-process. Run as a script
(``python tests/cli/_bad_inputs.py``) it runs each case as a ``discT2`` subprocess with a time
limit (a hang counts as a failure) and prints the number of cases with the right outcome.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"
TE_MS = (10.0, 20.0, 30.0, 40.0, 50.0, 60.0)
T2_MS = 80.0


@dataclass
class Case:
    """One input and the outcome it must have (see the module docstring)."""

    name: str
    make: Callable[[Path], list[str]]
    expect: str
    match: str = ""
    exit: int = 2
    check: Callable[[Path, str], None] | None = None


# ---- inputs ---------------------------------------------------------------------------------


def _series(te=TE_MS, scale=1000.0, shape=(16, 12, 2)):
    from discT2 import MultiEchoSeries

    te = np.asarray(te, float)
    data = scale * np.exp(-te / T2_MS) * np.ones((*shape, 1))
    affine = np.diag([1.0, 1.0, 4.0, 1.0])
    return MultiEchoSeries(data.astype(np.float32), te, affine, {"repetition_time_ms": 3000.0})


def _dicom(folder: Path, series=None) -> Path:
    from discT2.io.dicom_write import write_dicom_series

    out = folder / "dicom"
    write_dicom_series(series if series is not None else _series(), out, uid_seed=str(folder))
    return out


def _nifti(folder: Path, data: np.ndarray | None = None, te=TE_MS) -> Path:
    import nibabel as nib

    series = _series(te)
    array = series.data if data is None else data
    path = folder / "echoes.nii.gz"
    nib.save(nib.Nifti1Image(np.asarray(array, np.float32), np.eye(4)), path)
    (folder / "echoes.json").write_text(json.dumps({"EchoTime": [t / 1000 for t in te]}))
    return path


def _edit(files, change) -> None:
    import pydicom

    for f in files:
        ds = pydicom.dcmread(f)
        change(ds)
        ds.save_as(f)


def _fit(path: Path, folder: Path, *extra: str) -> list[str]:
    return ["fit", str(path), "-o", str(folder / "fit"), "--method", "loglinear", *extra]


def _with_dicom_extra(add: Callable[[Path], None]) -> Callable[[Path], list[str]]:
    def make(folder: Path) -> list[str]:
        dicom = _dicom(folder)
        add(dicom)
        return _fit(dicom, folder)

    return make


def _fifo(dicom: Path) -> None:
    os.mkfifo(dicom / "MR.9.9.IMA")


def _zero_link(dicom: Path) -> None:
    (dicom / "MR.9.9.IMA").symlink_to("/dev/zero")


def _loop(dicom: Path) -> None:
    (dicom / "a.dcm").symlink_to(dicom / "b.dcm")
    (dicom / "b.dcm").symlink_to(dicom / "a.dcm")
    (dicom / "c.dcm").symlink_to(dicom / "gone.dcm")


def _fitted_t2(folder: Path, stderr: str) -> None:
    import nibabel as nib

    t2 = np.asarray(nib.load(folder / "fit" / "t2.nii.gz").dataobj)
    assert np.all(np.isfinite(t2)), "every voxel fitted"
    assert np.allclose(t2, T2_MS, rtol=0.02), f"T2 {np.unique(t2.round(1))} != {T2_MS}"


def _fitted_with_warning(pattern: str) -> Callable[[Path, str], None]:
    def check(folder: Path, stderr: str) -> None:
        _fitted_t2(folder, stderr)
        assert re.search(pattern, stderr), f"no warning {pattern!r} in {stderr!r}"

    return check


def _huge(folder: Path) -> list[str]:
    dicom = _dicom(folder)

    def change(ds):
        ds.Rows = ds.Columns = 65535

    _edit(sorted(dicom.iterdir()), change)
    return _fit(dicom, folder)


def _truncated_pixels(folder: Path) -> list[str]:
    dicom = _dicom(folder)
    _edit(sorted(dicom.iterdir())[3:4], lambda ds: setattr(ds, "PixelData", ds.PixelData[:50]))
    return _fit(dicom, folder)


def _bad_syntax(folder: Path) -> list[str]:
    dicom = _dicom(folder)
    victim = sorted(dicom.iterdir())[2]
    data = victim.read_bytes()
    # the same length, so the file stays well-formed: a UID that is no transfer syntax
    victim.write_bytes(data.replace(b"1.2.840.10008.1.2.1", b"1.2.840.10008.9.9.9", 1))
    return _fit(dicom, folder)


def _unknown_vr(folder: Path) -> list[str]:
    """ManufacturerModelName (read only for the metadata) with the value representation 'ZZ'."""
    dicom = _dicom(folder)
    for f in dicom.iterdir():
        f.write_bytes(f.read_bytes().replace(b"\x08\x00\x90\x10LO", b"\x08\x00\x90\x10ZZ", 1))
    return _fit(dicom, folder)


def _zero_dicom(folder: Path) -> list[str]:
    return _fit(_dicom(folder, _series(scale=0.0)), folder)


def _nifti_case(values: Callable[[np.ndarray], np.ndarray]) -> Callable[[Path], list[str]]:
    def make(folder: Path) -> list[str]:
        data = _series().data
        return _fit(_nifti(folder, values(data)), folder)

    return make


def _sidecar(text: str, name: str = "echoes.json") -> Callable[[Path], list[str]]:
    def make(folder: Path) -> list[str]:
        path = _nifti(folder)
        (folder / name).write_bytes(text.encode("latin-1"))
        return _fit(path, folder)

    return make


def _truncated_nifti(folder: Path) -> list[str]:
    import nibabel as nib

    path = folder / "echoes.nii"
    nib.save(nib.Nifti1Image(_series().data, np.eye(4)), path)
    (folder / "echoes.json").write_text(json.dumps({"EchoTime": [t / 1000 for t in TE_MS]}))
    with open(path, "r+b") as fh:
        fh.truncate(700)
    return _fit(path, folder)


def _missing_echo(method: str) -> Callable[[Path], list[str]]:
    def make(folder: Path) -> list[str]:
        dicom = _dicom(folder, _series(te=(10.0, 20.0, 30.0, 50.0, 60.0, 70.0)))
        argv = ["fit", str(dicom), "-o", str(folder / "fit"), "--method", method]
        # the series is a plain exponential: for epg, a uniform slice (perfect refocusing) is the
        # model that describes it (the DICOM says 2-D, which would bring the slice profile)
        return [*argv, "--slice-profile", "none"] if method == "epg" else argv

    return make


def _output_is_a_file(folder: Path) -> list[str]:
    path = _nifti(folder)
    (folder / "fit").write_text("not a folder")
    return _fit(path, folder)


def _output_under_a_file(folder: Path) -> list[str]:
    path = _nifti(folder)
    (folder / "fit").write_text("not a folder")
    return ["fit", str(path), "-o", str(folder / "fit" / "maps"), "--method", "loglinear"]


def _rois(discs_doc: object) -> Callable[[Path], list[str]]:
    def make(folder: Path) -> list[str]:
        discs = folder / "discs.json"
        discs.write_text(json.dumps(discs_doc))
        t2 = folder / "t2.nii.gz"
        from discT2.io.nifti import save_map

        sagittal = np.array([[0, 0, 4.0, 0], [-1.0, 0, 0, 0], [0, -1.0, 0, 0], [0, 0, 0, 1]])
        save_map(np.full((16, 12, 3), 80.0), sagittal, t2)
        return ["rois", str(t2), "--discs", str(discs), "-o", str(folder / "rois")]

    return make


_FAR_DISC = {
    "level": "L4-L5",
    "corners_ras_mm": {
        "AS": [500.0, 500.0, 4.0],
        "PS": [510.0, 500.0, 4.0],
        "AI": [500.0, 505.0, 4.0],
        "PI": [510.0, 505.0, 4.0],
    },
}


def _manifest(subject: str) -> Callable[[Path], list[str]]:
    """The sample study's manifest (paths made absolute) with subject S01 renamed."""

    def make(folder: Path) -> list[str]:
        import csv

        with open(SAMPLE / "study.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
        for row in rows:
            for column in ("dicom", "discs"):
                if row.get(column):
                    row[column] = str(SAMPLE / row[column])
        for row in rows:
            if row["subject"] == "S01":
                row["subject"] = subject
        manifest = folder / "study.csv"
        with open(manifest, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        return ["run", str(manifest), "-o", str(folder / "out")]

    return make


def _locked(folder: Path) -> list[str]:
    out = folder / "out"
    out.mkdir()
    return ["run", str(SAMPLE / "study.csv"), "-o", str(out)]


def _run_into_a_file(folder: Path) -> list[str]:
    (folder / "out").write_text("a file")
    return ["run", str(SAMPLE / "study.csv"), "-o", str(folder / "out")]


def _report_unknown_subject(folder: Path) -> list[str]:
    out = folder / "study"
    out.mkdir()
    columns = "subject,visit,months,level,role,roi,n_voxels,t2_mean_ms\n"
    rows = [f"S01,{v},{m},L4-L5,index,NP,40,{t}\n" for v, m, t in (("M0", 0, 100), ("M12", 12, 90))]
    (out / "measurements.csv").write_text(columns + "".join(rows))
    arms = folder / "arms.csv"
    arms.write_text("subject,arm\nS01,MSC\nS99,sham\n")
    return ["report", str(out), "--arms", str(arms)]


def _six_nan_voxels(data: np.ndarray) -> np.ndarray:
    out = data.copy()
    out.reshape(-1, out.shape[-1])[:6] = np.nan
    return out


def _partial_nan_check(folder: Path, stderr: str) -> None:
    import nibabel as nib

    t2 = np.asarray(nib.load(folder / "fit" / "t2.nii.gz").dataobj)
    assert np.count_nonzero(np.isnan(t2)) == 6
    assert np.allclose(t2[np.isfinite(t2)], T2_MS, rtol=0.02)
    assert re.search(r"6 voxels hold non-finite intensities", stderr), stderr


CASES: list[Case] = [
    # readers: files that must not hang, crash or be read
    Case("fifo in the DICOM folder", _with_dicom_extra(_fifo), "ok", check=_fitted_t2),
    Case("link to /dev/zero in the folder", _with_dicom_extra(_zero_link), "ok", check=_fitted_t2),
    Case("looping and dangling links", _with_dicom_extra(_loop), "ok", check=_fitted_t2),
    Case(
        "the input is a FIFO",
        lambda f: (os.mkfifo(f / "in.nii.gz"), _fit(f / "in.nii.gz", f))[1],
        "error",
        r"in\.nii\.gz: not a regular file",
    ),
    Case(
        "the input is a link loop",
        lambda f: ((f / "x").symlink_to(f / "x"), _fit(f / "x", f))[1],
        "error",
        r"/x: link loop",
    ),
    Case("65535 x 65535 pixels declared", _huge, "error", r"65535 x 65535 pixels .*refused"),
    Case("truncated pixel data", _truncated_pixels, "error", r"MR\.\S+: unreadable pixel data"),
    Case("unknown transfer syntax", _bad_syntax, "error", r"MR\.\S+: unreadable"),
    Case(
        "unknown value representation in a metadata field",
        _unknown_vr,
        "error",
        r"MR\.\S+: unreadable header field .*Unknown Value Representation 'ZZ' in tag",
    ),
    Case("NIfTI cut short", _truncated_nifti, "error", r"echoes\.nii: truncated"),
    Case(
        "sidecar EchoTime is text",
        _sidecar('{"EchoTime": "ten"}'),
        "error",
        r"echoes\.json: 'EchoTime' must be positive numbers",
    ),
    Case(
        "sidecar not UTF-8",
        _sidecar('{"EchoTime": [0.01], "Manufacturer": "\xe9\xff"}'),
        "error",
        r"echoes\.json: not readable JSON",
    ),
    Case("sidecar not JSON", _sidecar("{EchoTime: "), "error", r"echoes\.json: not readable JSON"),
    # signal that cannot give a map
    Case("all-zero DICOM", _zero_dicom, "error", r"dicom: every intensity is zero"),
    Case(
        "all-zero NIfTI",
        _nifti_case(lambda d: 0 * d),
        "error",
        r"echoes\.nii\.gz: every intensity is zero",
    ),
    Case(
        "all-NaN NIfTI",
        _nifti_case(lambda d: d * np.nan),
        "error",
        r"echoes\.nii\.gz: no finite intensity",
    ),
    Case(
        "negative NIfTI", _nifti_case(lambda d: -d), "error", r"intensities \(100 %\) are negative"
    ),
    Case(
        "a few NaN voxels",
        _nifti_case(_six_nan_voxels),
        "ok",
        check=_partial_nan_check,
    ),
    # one echo-set rule for every method
    Case(
        "missing echo, loglinear",
        _missing_echo("loglinear"),
        "ok",
        check=_fitted_with_warning(r"1 echo missing from the echo train: echo 4 \(40 ms\)"),
    ),
    Case(
        "missing echo, epg",
        _missing_echo("epg"),
        "ok",
        check=_fitted_with_warning(r"1 echo missing from the echo train: echo 4 \(40 ms\)"),
    ),
    # outputs checked before the work
    Case("-o names a file", _output_is_a_file, "error", r"/fit: exists and is not a folder"),
    Case("-o under a file", _output_under_a_file, "error", r"/fit: exists and is not a folder"),
    # rois
    Case('rois with {"discs": []}', _rois({"discs": []}), "error", r"discs\.json: no discs listed"),
    Case(
        "rois with a disc outside the image",
        _rois({"discs": [_FAR_DISC]}),
        "error",
        r"t2\.nii\.gz: no disc could be placed \(L4-L5: .*\); nothing written",
    ),
    # study manifest, arms, lock, simulate
    Case(
        "300-character subject",
        _manifest("S" * 300),
        "error",
        r"study\.csv line 2, column 'subject': 'SSSS.*300 characters long",
    ),
    Case(
        "subject with a path separator",
        _manifest("../S01"),
        "error",
        r"study\.csv line 2, column 'subject': '\.\./S01' cannot name an output folder",
    ),
    Case("run -o names a file", _run_into_a_file, "error", r"/out: "),
    Case(
        "report --arms with an unknown subject",
        _report_unknown_subject,
        "error",
        r"arms\.csv: 1 subject\(s\) not in the study .*: S99",
    ),
    Case(
        "simulate --visits 0",
        lambda f: ["simulate", str(f / "sim"), "--visits", "0", "--subjects", "1"],
        "error",
        r"a study needs a baseline and at least one follow-up",
    ),
    Case("second run on a folder in use", _locked, "error", r"/out: the folder is in use"),
]


# ---- running a case -------------------------------------------------------------------------


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every entry under ``folder`` (links not followed): size and modification time of files.

    Folders are listed without their times (writing into them and cleaning up changes those).
    """
    out = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames:
            out[str((Path(dirpath) / name).relative_to(folder)) + "/"] = (0, 0)
        for name in filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            out[str(p.relative_to(folder))] = (st.st_size, st.st_mtime_ns)
    return out


def outcome_problem(case: Case, folder: Path, before: dict, status: int, stderr: str) -> str:
    """Why the outcome is not the one the case must have ('' when it is)."""
    if "Traceback" in stderr:
        return "a traceback"
    if case.expect == "error":
        lines = [line for line in stderr.splitlines() if line.startswith("ERROR: ")]
        if status != case.exit:
            return f"exit {status}, expected {case.exit}: {stderr[-300:]!r}"
        if len(lines) != 1:
            return f"not one ERROR line: {stderr[-500:]!r}"
        if not re.search(case.match, lines[0]):
            return f"message {lines[0]!r} does not match {case.match!r}"
        after = snapshot(folder)
        if after != before:
            changed = sorted(set(after.items()) ^ set(before.items()))
            return f"outputs left or changed: {[c[0] for c in changed][:5]}"
        return ""
    if status != 0:
        return f"exit {status}: {stderr[-500:]!r}"
    try:
        case.check(folder, stderr)
    except AssertionError as exc:
        return f"wrong result: {exc}"
    return ""


def prepare(case: Case, folder: Path) -> tuple[list[str], object]:
    """Build the case's inputs; returns the arguments and a lock holder to release afterwards."""
    argv = case.make(folder)
    holder = None
    if case.make is _locked:
        holder = _hold_lock(folder / "out")
    return argv, holder


def _hold_lock(out: Path):
    code = (
        "import sys; from pathlib import Path; from discT2.study._lock import study_lock\n"
        f"with study_lock(Path({str(out)!r})):\n    print('held', flush=True); sys.stdin.read()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    proc.stdout.readline()
    return proc


def release(holder) -> None:
    if holder is not None:
        holder.stdin.close()
        holder.wait(timeout=30)
        holder.stdout.close()


def main() -> int:
    """Run every case as a subprocess (time limit 120 s each); print how many came out right."""
    discT2 = [sys.executable, "-c", "import sys; from discT2.cli import main; sys.exit(main())"]
    right = 0
    start = time.perf_counter()
    for case in CASES:
        with tempfile.TemporaryDirectory(prefix="discT2-bad-") as tmp:
            folder = Path(tmp)
            try:
                argv, holder = prepare(case, folder)
            except Exception as exc:  # the old code may not be able to build a case
                print(f"FAIL {case.name}: cannot build ({type(exc).__name__}: {exc})")
                continue
            before = snapshot(folder)
            try:
                proc = subprocess.run(
                    [*discT2, *argv], capture_output=True, text=True, timeout=120, check=False
                )
                problem = outcome_problem(case, folder, before, proc.returncode, proc.stderr)
            except subprocess.TimeoutExpired:
                problem = "a hang (over 120 s)"
            finally:
                release(holder)
            right += not problem
            print(f"FAIL {case.name}: {problem}" if problem else f"ok   {case.name}")
            shutil.rmtree(folder, ignore_errors=True)
    print(
        f"{right} of {len(CASES)} cases with the right outcome "
        f"({time.perf_counter() - start:.0f} s on {socket.gethostname()})"
    )
    return 0 if right == len(CASES) else 1


if __name__ == "__main__":
    sys.exit(main())
