"""Reruns: finished exams are reused (not refitted), interrupted and damaged ones are recomputed,
changed options or inputs recompute what they affect, and the tables come out identical."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import discT2.study.exam as exam_module
from discT2 import InputError, StudyError
from discT2.study import RunOptions, read_study, run_study

TABLES = ("measurements.csv", "changes.csv", "exams.csv", "errors.csv")
SRC = Path(exam_module.__file__).resolve().parents[2]


def assert_same_tables(a: Path, b: Path) -> None:
    for name in TABLES:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def no_fit(*args, **kwargs):
    raise AssertionError("an exam was refitted")


def test_rerun_reuses_every_exam_without_refitting(quick_manifest, quick_reference, tmp_path,
                                                    monkeypatch):  # fmt: skip
    ref_dir, ref = quick_reference
    assert ref.exit_status == 0 and ref.n_skipped == 0 and len(ref.exams) == 5
    out = tmp_path / "out"
    shutil.copytree(ref_dir, out)
    before = {p: p.stat().st_mtime_ns for p in out.rglob("exam.json")}
    monkeypatch.setattr(exam_module, "fit_t2", no_fit)
    again = run_study(quick_manifest, out, report=False)
    assert again.n_skipped == 5 and again.exit_status == 0
    assert {p: p.stat().st_mtime_ns for p in out.rglob("exam.json")} == before
    assert_same_tables(ref_dir, out)


def test_force_recomputes(quick_manifest, quick_reference, tmp_path):
    ref_dir, _ = quick_reference
    out = tmp_path / "out"
    shutil.copytree(ref_dir, out)
    again = run_study(quick_manifest, out, report=False, force=True)
    assert again.n_skipped == 0
    assert_same_tables(ref_dir, out)


def test_changed_method_recomputes(quick_manifest, quick_reference, tmp_path, caplog):
    ref_dir, _ = quick_reference
    out = tmp_path / "out"
    shutil.copytree(ref_dir, out)
    again = run_study(quick_manifest, out, report=False, method="nlls")
    assert again.n_skipped == 0
    assert set(again.measurements["method"]) == {"nlls"}
    assert "other options (method differ)" in caplog.text
    assert not (out / "S04" / "baseline" / "b1.nii.gz").exists()  # epg's B1 map is gone
    doc = json.loads((out / "S04" / "baseline" / "exam.json").read_text())
    assert doc["options"]["method"] == "nlls"


def test_interrupted_run_resumes_to_identical_tables(quick_manifest, quick_reference, tmp_path):
    ref_dir, _ = quick_reference
    out = tmp_path / "out"
    seen = []

    def interrupt(result, done, total):
        seen.append(result.key)
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_study(quick_manifest, out, report=False, progress=interrupt)
    finished = {p.parent for p in out.rglob("exam.json")}
    assert len(finished) == 2
    assert not (out / "measurements.csv").exists()
    resumed = run_study(quick_manifest, out, report=False)
    assert resumed.n_skipped == 2
    assert {e.key for e in resumed.exams if e.skipped} == set(seen)
    assert_same_tables(ref_dir, out)


def test_damaged_outputs_are_not_trusted(quick_manifest, quick_reference, tmp_path):
    ref_dir, _ = quick_reference
    out = tmp_path / "out"
    shutil.copytree(ref_dir, out)
    # a half-written map, a measurements table cut short, and an exam without its exam.json
    t2 = out / "S04" / "m06" / "t2.nii.gz"
    t2.write_bytes(t2.read_bytes()[:100])
    csv = out / "S02" / "m12" / "measurements.csv"
    csv.write_text(csv.read_text()[:200])
    (out / "S04" / "m12" / "exam.json").unlink()
    (out / "S04" / "m12" / ".t2.nii.gz.999.tmp.nii.gz").write_bytes(b"partial")
    again = run_study(quick_manifest, out, report=False)
    recomputed = {e.key for e in again.exams if not e.skipped}
    assert recomputed == {("S04", "m06"), ("S02", "m12"), ("S04", "m12")}
    assert not (out / "S04" / "m12" / ".t2.nii.gz.999.tmp.nii.gz").exists()
    assert_same_tables(ref_dir, out)


def test_changed_discs_file_recomputes_that_exam(quick_manifest, quick_reference, tmp_path):
    ref_dir, _ = quick_reference
    out = tmp_path / "out"
    shutil.copytree(ref_dir, out)
    study = read_study(quick_manifest)
    spec = study.exam("S04", "m06")
    edited = tmp_path / "discs.json"
    doc = json.loads(spec.discs.read_text())
    doc["discs"] = [d for d in doc["discs"] if d["level"] != "L1-L2"]
    edited.write_text(json.dumps(doc))
    text = quick_manifest.read_text().replace(str(spec.discs), str(edited))
    manifest = tmp_path / "study.csv"
    manifest.write_text(text)
    again = run_study(manifest, out, report=False)
    assert {e.key for e in again.exams if not e.skipped} == {("S04", "m06")}
    m = again.measurements
    assert "L1-L2" not in set(m[(m.subject == "S04") & (m.visit == "m06")]["level"])


def test_missing_input_keeps_earlier_outputs(quick_manifest, quick_reference, tmp_path):
    ref_dir, _ = quick_reference
    out = tmp_path / "out"
    shutil.copytree(ref_dir, out)
    study = read_study(quick_manifest)
    spec = study.exam("S02", "m12")
    text = quick_manifest.read_text().replace(str(spec.dicom), str(tmp_path / "unmounted"))
    manifest = tmp_path / "study.csv"
    manifest.write_text(text)
    before = (out / "S02" / "m12" / "exam.json").read_bytes()
    again = run_study(manifest, out, report=False)
    assert again.exit_status == 1
    failed = [e for e in again.exams if e.status == "failed"]
    assert [(e.key, e.stage) for e in failed] == [(("S02", "m12"), "load")]
    assert "unmounted: no such file or folder" in failed[0].error
    assert (out / "S02" / "m12" / "exam.json").read_bytes() == before
    assert "unmounted" in (out / "errors.csv").read_text()
    # the input is back: the earlier outputs are reused
    back = run_study(quick_manifest, out, report=False)
    assert back.n_skipped == 5
    assert_same_tables(ref_dir, out)


@pytest.mark.slow  # two spawned worker processes import discT2 (~10 s on 2 cores)
def test_parallel_run_matches_serial(quick_manifest, quick_reference, tmp_path):
    ref_dir, _ = quick_reference
    out = tmp_path / "out"
    env_before = dict(os.environ)
    result = run_study(quick_manifest, out, report=False, workers=2)
    assert result.exit_status == 0 and result.n_skipped == 0
    assert_same_tables(ref_dir, out)
    assert dict(os.environ) == env_before  # the workers' one-thread settings are not left behind
    logs = [(out / e.subject / e.visit / "exam.log").read_text() for e in result.exams]
    assert all("stage measure" in log for log in logs)


@pytest.mark.slow  # a second Python process imports discT2 and runs until killed (~8 s)
def test_killed_process_resumes_to_identical_tables(quick_manifest, quick_reference, tmp_path):
    """SIGKILL the command line once its first exam is finished; the rerun completes it."""
    ref_dir, _ = quick_reference
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    cmd = [sys.executable, "-m", "discT2.cli", "-q", "run", str(quick_manifest), "-o", str(out),
           "--no-report"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if any(out.rglob("exam.json")):
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the run finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    done_before = len(list(out.rglob("exam.json")))
    assert 1 <= done_before < 5
    assert not (out / "measurements.csv").exists()
    resumed = run_study(quick_manifest, out, report=False)
    assert resumed.n_skipped == done_before
    assert_same_tables(ref_dir, out)


def test_bad_invocations(quick_manifest, tmp_path):
    with pytest.raises(InputError, match="workers must be"):
        run_study(quick_manifest, tmp_path / "o", workers=0)
    with pytest.raises(InputError, match="tau must be"):
        run_study(quick_manifest, tmp_path / "o", tau_pct=-1)
    with pytest.raises(StudyError, match="output folder is the manifest's folder"):
        run_study(quick_manifest, quick_manifest.parent)
    with pytest.raises(InputError, match="unknown fit method"):
        run_study(quick_manifest, tmp_path / "o", method="bogus")
    with pytest.raises(InputError, match=r"RunOptions.fit: unknown option\(s\) bogus"):
        run_study(quick_manifest, tmp_path / "o", fit_options={"bogus": 1})
    with pytest.raises(InputError, match="min_echoes"):
        RunOptions(fit={"min_echoes": 0})
    assert RunOptions().to_json()["method"] == "epg"
    opts = RunOptions(rois={"slices": 1}, measure={"t2_range_ms": (10, 500)})
    assert RunOptions.from_json(opts.to_json()).to_json() == opts.to_json()
