"""Fault isolation inside an exam: an unexpected error in a stage or outside the stages fails
that exam only, with the stage and the exception named, and keeps what was computed."""

from __future__ import annotations

import json

import discT2.study.exam as exam_module
from discT2.study import run_study


def test_unexpected_error_in_a_stage(quick_manifest, tmp_path, monkeypatch):
    real_measure = exam_module.measure

    def flaky_measure(t2map, rois, **kwargs):
        if "m06" in str(t2map.meta.get("source", "")):
            raise ValueError("a bug in measure")
        return real_measure(t2map, rois, **kwargs)

    monkeypatch.setattr(exam_module, "measure", flaky_measure)
    result = run_study(quick_manifest, tmp_path / "out", report=False)
    failed = [(e.key, e.stage, e.error) for e in result.exams if e.status != "ok"]
    assert failed == [(("S04", "m06"), "measure", "ValueError: a bug in measure")]
    folder = tmp_path / "out" / "S04" / "m06"
    assert "Traceback" in (folder / "exam.log").read_text()
    doc = json.loads((folder / "exam.json").read_text())
    assert {"t2.nii.gz", "rois.json", "discs.json"} <= set(doc["outputs"])  # kept
    assert len(result.measurements[result.measurements.visit == "m06"]) == 0
    assert len(result.measurements) == 4 * 5 * 8  # the other exams: 4 x 5 discs x 8 ROIs
    # fixed: the failed exam is retried, the others reused
    monkeypatch.setattr(exam_module, "measure", real_measure)
    again = run_study(quick_manifest, tmp_path / "out", report=False)
    assert [e.key for e in again.exams if not e.skipped] == [("S04", "m06")]
    assert again.exit_status == 0


def test_unexpected_error_outside_the_stages(quick_manifest, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(exam_module, "_required_discs", broken)
    result = run_study(quick_manifest, tmp_path / "out", report=False)
    assert {(e.status, e.stage, e.error) for e in result.exams} == {
        ("failed", "run", "RuntimeError: disk full")
    }
    assert result.exit_status == 1
    assert len(result.errors) == 5
