"""A whole synthetic trial through run_study: fault isolation, output layout, the numbers against
the phantom's truth, categories, blinding and patient data.

Tolerances. Each ROI's mean T2 has the standard error SD / sqrt(n) of its voxels (noise is
independent per voxel). % of baseline is a ratio of two such means, so its standard error is

    SE(P) = P * sqrt( (SE_0 / T2_0)^2 + (SE_t / T2_t)^2 )

and the treated-minus-control difference adds the controls' mean change:
SE^2 = SE(index)^2 + (SE(C1)^2 + SE(C2)^2) / 4. The SDs are estimated from 2-20 voxels, so the
bound uses Student's t with Welch-Satterthwaite degrees of freedom rather than the normal, at a
two-sided level that keeps the chance of any false alarm over all comparisons below 1 %
(Bonferroni). The fit's bias (EPG: < 0.6 % for T2 >= 40 ms at these SNRs,
docs/methods/fitting.md) is almost the same at both visits and cancels to first order in the
ratio; 0.6 percentage points are added for what remains.

The phantom's ROI bands have a constant true T2 each, so the five ROIs compare with truth.csv
directly. The derived NP, AF and disc rows pool the five ROIs voxel-weighted; truth.csv pools them
with the phantom's own voxel counts, which are not ours (margins, slice), so their expected value
is the true ROI T2 pooled with the counts this run measured.
"""

from __future__ import annotations

import gzip
import json
import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from discT2.report import CHANGE_COLUMNS, EXAM_COLUMNS, MEASUREMENT_COLUMNS
from discT2.report._names import ERROR_COLUMNS

# One study run of 12 exams with propagation, automatic detection and the report: ~20-40 s.
pytestmark = pytest.mark.slow

FIVE = ("AF_anterior", "NP_anterior", "NP_central", "NP_posterior", "AF_posterior")
DERIVED = {"NP": FIVE[1:4], "AF": (FIVE[0], FIVE[4]), "disc": FIVE}
FIT_BIAS_PCT = 0.6
FAMILY_ALPHA = 0.01


def _read(path):
    return pd.read_csv(path, dtype={"subject": str, "visit": str}, keep_default_na=False)


def _num(df, column):
    return pd.to_numeric(df[column], errors="coerce")


@pytest.fixture(scope="module")
def tables(trial_run):
    out = trial_run.out_dir
    m = _read(out / "measurements.csv")
    for c in ("months", "n_voxels", "t2_mean_ms", "t2_sd_ms"):
        m[c] = _num(m, c)
    changes = _read(out / "changes.csv")
    for c in ("pct_of_baseline", "change_pct", "treated_minus_control_pct", "months"):
        changes[c] = _num(changes, c)
    return {"m": m, "changes": changes, "errors": _read(out / "errors.csv")}


@pytest.fixture(scope="module")
def truth(cohort):
    t = pd.read_csv(cohort.truth_csv, dtype={"subject": str, "visit": str})
    return t


def _roi_stats(m, subject, visit, level, roi):
    """(mean, SE, df) of one measured ROI; derived ROIs from their five parts."""
    parts = DERIVED.get(roi, (roi,))
    rows = m[(m.subject == subject) & (m.visit == visit) & (m.level == level)]
    rows = rows.set_index("roi").loc[list(parts)]
    n = rows["n_voxels"].to_numpy(float)
    sd = rows["t2_sd_ms"].to_numpy(float)
    mean = float(np.sum(n * rows["t2_mean_ms"].to_numpy(float)) / n.sum())
    var_parts = sd**2 / n * (n / n.sum()) ** 2  # variance of the pooled mean, per part
    se = float(np.sqrt(var_parts.sum()))
    # Welch-Satterthwaite over the parts
    df = float(var_parts.sum() ** 2 / np.sum(var_parts**2 / np.maximum(n - 1, 1)))
    return mean, se, df, n


def _welch_df(terms):
    """Degrees of freedom of a sum of variance terms [(variance, df), ...]."""
    total = sum(v for v, _ in terms)
    return total**2 / sum(v * v / d for v, d in terms)


def _pct_and_se(m, subject, level, roi, visit):
    t0, se0, df0, _ = _roi_stats(m, subject, "baseline", level, roi)
    t1, se1, df1, _ = _roi_stats(m, subject, visit, level, roi)
    pct = 100 * t1 / t0
    v0, v1 = (pct * se0 / t0) ** 2, (pct * se1 / t1) ** 2
    return pct, (v0 + v1) ** 0.5, _welch_df([(v0, df0), (v1, df1)])


def _true_t2(truth, subject, level, roi, visit, counts):
    """True T2 of an ROI at a visit (derived ROIs pooled with the measured voxel counts)."""
    rows = truth[(truth.subject == subject) & (truth.level == level)]
    parts = DERIVED.get(roi, (roi,))
    column = "baseline_t2_ms" if visit == "baseline" else "t2_ms"
    when = rows[rows.visit == ("m06" if visit == "baseline" else visit)]
    values = when.set_index("roi").loc[list(parts), column].to_numpy(float)
    return float(np.sum(values * counts) / np.sum(counts))


def _bound(se, df, n_tests):
    q = stats.t.ppf(1 - FAMILY_ALPHA / (2 * n_tests), df)
    return q * se + FIT_BIAS_PCT


def _measured_rows(changes):
    """Change rows of index and control discs (what truth.csv covers)."""
    return changes[changes.role.isin(["index", "control"])]


# -- fault isolation and layout ---------------------------------------------------------------


def test_corrupted_exams_are_in_errors_and_the_rest_is_measured(trial, trial_run, tables):
    errors = tables["errors"]
    assert list(errors.columns) == list(ERROR_COLUMNS)
    assert set(zip(errors.subject, errors.visit, strict=True)) == {
        ("S02", "m06"),
        ("S03", "baseline"),
    }
    assert set(errors.stage) == {"load"}
    by_exam = errors.set_index(["subject", "visit"])["error"]
    # the reasons name the file (truncated one) or the folder and the missing image
    truncated = trial["broken"][("S02", "m06")]
    assert truncated.name in by_exam[("S02", "m06")]
    assert "pixel data" in by_exam[("S02", "m06")]
    assert "missing" in by_exam[("S03", "baseline")]
    assert "echo" in by_exam[("S03", "baseline")]
    assert all("\n" not in e for e in errors.error)
    measured = set(zip(tables["m"].subject, tables["m"].visit, strict=True))
    expected = {
        (s, v)
        for s in ("S01", "S02", "S03", "S04")
        for v in ("baseline", "m06", "m12")
        if (s, v) not in {("S02", "m06"), ("S03", "baseline")}
    }
    assert measured == expected
    assert trial_run.exit_status == 1
    assert trial_run.count("failed") == 2 and trial_run.count("ok") == 10


def test_failed_exam_has_its_record(trial_run):
    doc = json.loads((trial_run.out_dir / "S02" / "m06" / "exam.json").read_text())
    assert doc["status"] == "failed" and doc["stage"] == "load"
    assert "pixel data" in doc["error"]
    log = (trial_run.out_dir / "S02" / "m06" / "exam.log").read_text()
    assert "pixel data" in log
    assert not (trial_run.out_dir / "S02" / "m06" / "measurements.csv").exists()


def test_followup_of_failed_baseline_uses_automatic_rois(trial_run, tables):
    doc = json.loads((trial_run.out_dir / "S03" / "m06" / "exam.json").read_text())
    assert doc["status"] == "ok"
    assert doc["rois"]["source"] == "auto"
    assert "baseline baseline failed" in doc["rois"]["fallback"]
    assert any("automatically" in r for r in doc["review"])
    m = tables["m"]
    made = set(m[(m.subject == "S03") & (m.visit == "m06")]["made_by"])
    assert made == {"auto"}
    # no baseline -> no change rows for S03, and a note saying so
    assert "S03" not in set(tables["changes"].subject)
    assert any("S03" in n for n in trial_run.notes)


def test_rois_propagated_from_baseline(trial_run, tables):
    m = tables["m"]
    s01 = m[(m.subject == "S01") & (m.visit != "baseline")]
    assert set(s01["made_by"]) == {"propagated"}
    doc = json.loads((trial_run.out_dir / "S01" / "m12" / "exam.json").read_text())
    assert doc["rois"]["source"] == "propagated"
    assert (
        doc["inputs"]["rois"]["baseline"]["digest"]
        == json.loads((trial_run.out_dir / "S01" / "baseline" / "exam.json").read_text())["digest"]
    )
    assert all("registration" in d for d in doc["rois"]["discs"])


def test_followups_read_the_saved_baseline_image(trial, trial_run):
    """A follow-up registers to the image its baseline saved, exactly what re-reading the
    baseline's DICOM gives; it reads the DICOM when the saved image is not the current one."""
    from dataclasses import replace

    from discT2 import MultiEchoSeries
    from discT2.roi.register import RegistrationImage
    from discT2.study import RunOptions, read_study
    from discT2.study.exam import ExamTask, _baseline_image

    folder = trial_run.out_dir / "S01"
    record = json.loads((folder / "baseline" / "exam.json").read_text())
    assert "registration.npz" in record["outputs"]
    assert "baseline image from" in (folder / "m12" / "exam.log").read_text()
    study = read_study(trial["manifest"])
    spec = next(e for e in study.ordered() if e.key == ("S01", "m12"))
    task = ExamTask(spec=spec, folder=folder / "m12", options=RunOptions(), plan="propagate",
                    baseline=study.baseline("S01"), baseline_folder=folder / "baseline",
                    baseline_digest=record["digest"])  # fmt: skip
    saved = _baseline_image(task)
    assert isinstance(saved, RegistrationImage)
    reread = _baseline_image(replace(task, baseline_digest="an older baseline"))
    assert isinstance(reread, MultiEchoSeries)
    again = RegistrationImage.of(reread)
    assert np.array_equal(again.data, saved.data) and np.array_equal(again.affine, saved.affine)


def test_exam_folders(trial_run):
    for exam in trial_run.exams:
        folder = trial_run.out_dir / exam.subject / exam.visit
        doc = json.loads((folder / "exam.json").read_text())
        assert doc["status"] == exam.status
        assert (folder / "exam.log").is_file()
        if exam.status != "ok":
            continue
        for name in ("t2.nii.gz", "b1.nii.gz", "fit.json", "rois.nii.gz", "rois.json",
                     "discs.json", "measurements.csv"):  # fmt: skip
            assert (folder / name).is_file(), name
            assert name in doc["outputs"]
        assert set(doc["timings_s"]) >= {"load", "fit", "rois", "measure", "total"}
        assert doc["options"]["method"] == "epg"
        assert doc["software"]["discT2"]
        header = (folder / "measurements.csv").read_text().splitlines()[0].split(",")
        assert header[: len(MEASUREMENT_COLUMNS)] == list(MEASUREMENT_COLUMNS)
        assert "acquisition_date" not in doc["series"]
        assert doc["exam_row"]["vendor"] in ("siemens", "ge", "philips")


def test_study_tables(trial_run):
    out = trial_run.out_dir
    header = (out / "measurements.csv").read_text().splitlines()[0].split(",")
    assert header[: len(MEASUREMENT_COLUMNS)] == list(MEASUREMENT_COLUMNS)
    assert header[len(MEASUREMENT_COLUMNS) :][:2] == ["t2_sem_ms", "t2_fit_se_ms"]
    assert (out / "changes.csv").read_text().splitlines()[0].split(",") == list(CHANGE_COLUMNS)
    exams = _read(out / "exams.csv")
    assert list(exams.columns) == list(EXAM_COLUMNS)
    assert len(exams) == 10  # every exam that loaded
    run = json.loads((out / "run.json").read_text())
    assert run["counts"]["exams"] == 12 and run["counts"]["failed"] == 2
    assert run["options"]["method"] == "epg"
    # every disc found is measured; roles from the manifest
    m = _read(out / "measurements.csv")
    s01 = m[(m.subject == "S01") & (m.visit == "baseline")]
    roles = s01.drop_duplicates("level").set_index("level")["role"].to_dict()
    assert roles["L3-L4"] == "index"
    assert roles["L1-L2"] == roles["L5-S1"] == "control"
    assert "other" in roles.values()


def test_report_is_blinded(trial_run, cohort):
    html = (trial_run.out_dir / "report_BLINDED.html").read_text()
    assert "S01" in html
    html = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", html)  # figures' bytes
    arms = {s.arm for s in cohort.plan.subjects}
    for arm in arms:
        assert arm not in html
    assert not (trial_run.out_dir / "trial_table.csv").exists()


# -- the numbers against the truth ------------------------------------------------------------


def test_pct_of_baseline_matches_truth(tables, truth):
    m, changes = tables["m"], _measured_rows(tables["changes"])
    assert len(changes) == 2 * 3 * 8 + 1 * 3 * 8 + 2 * 3 * 8  # S01, S02 (m12 only), S04
    n_tests = len(changes)
    failures = []
    for r in changes.itertuples():
        pct, se, df = _pct_and_se(m, r.subject, r.level, r.roi, r.visit)
        assert pct == pytest.approx(r.pct_of_baseline, abs=0.01)  # T2 in the files to 1 us
        _, _, _, n0 = _roi_stats(m, r.subject, "baseline", r.level, r.roi)
        _, _, _, n1 = _roi_stats(m, r.subject, r.visit, r.level, r.roi)
        true = (
            100
            * _true_t2(truth, r.subject, r.level, r.roi, r.visit, n1)
            / _true_t2(truth, r.subject, r.level, r.roi, "baseline", n0)
        )
        if r.roi in FIVE:
            row = truth[(truth.subject == r.subject) & (truth.level == r.level)
                        & (truth.roi == r.roi) & (truth.visit == r.visit)]  # fmt: skip
            assert true == pytest.approx(float(row.pct_of_baseline.iloc[0]), abs=1e-4)
        if abs(r.pct_of_baseline - true) > _bound(se, df, n_tests):
            failures.append((r.subject, r.level, r.roi, r.visit, r.pct_of_baseline, true, se))
    assert not failures


def test_no_systematic_error_in_pct_of_baseline(tables, truth):
    """The row-wise bounds are wide (2-20 voxels per ROI); the mean error over the independent
    rows (five ROIs, last visit) tests for a bias, e.g. a fit bias that does not cancel or ROIs
    that drift between visits, with a standard error of sqrt(sum SE^2) / N (~0.3 points)."""
    m, changes = tables["m"], _measured_rows(tables["changes"])
    last = changes[changes.roi.isin(FIVE) & (changes.visit == "m12")]
    assert len(last) == 3 * 3 * 5
    errors, ses = [], []
    for r in last.itertuples():
        true = truth[(truth.subject == r.subject) & (truth.level == r.level)
                     & (truth.roi == r.roi) & (truth.visit == r.visit)].iloc[0]  # fmt: skip
        _, se, _ = _pct_and_se(m, r.subject, r.level, r.roi, r.visit)
        errors.append(r.pct_of_baseline - true.pct_of_baseline)
        ses.append(se)
    se_mean = float(np.sqrt(np.sum(np.square(ses)))) / len(ses)
    assert se_mean < 0.5
    assert abs(np.mean(errors)) < 4 * se_mean + FIT_BIAS_PCT


def test_treated_vs_control_matches_truth(tables, truth, cohort):
    m, changes = tables["m"], tables["changes"]
    index = changes[changes.role == "index"]
    assert len(index) == (2 * 2 + 1) * 8
    controls = {s.code: s.control_discs for s in cohort.plan.subjects}
    failures = []
    for r in index.itertuples():
        assert r.control_levels == ";".join(controls[r.subject])
        _, se_t, df_t = _pct_and_se(m, r.subject, r.level, r.roi, r.visit)
        terms = [(se_t**2, df_t)]
        _, _, _, n0 = _roi_stats(m, r.subject, "baseline", r.level, r.roi)
        _, _, _, n1 = _roi_stats(m, r.subject, r.visit, r.level, r.roi)
        true_t = (
            100
            * _true_t2(truth, r.subject, r.level, r.roi, r.visit, n1)
            / _true_t2(truth, r.subject, r.level, r.roi, "baseline", n0)
        )
        true_c = []
        for level in controls[r.subject]:
            _, se_c, df_c = _pct_and_se(m, r.subject, level, r.roi, r.visit)
            terms.append((se_c**2 / 4, df_c))
            _, _, _, c0 = _roi_stats(m, r.subject, "baseline", level, r.roi)
            _, _, _, c1 = _roi_stats(m, r.subject, r.visit, level, r.roi)
            true_c.append(
                100 * _true_t2(truth, r.subject, level, r.roi, r.visit, c1)
                / _true_t2(truth, r.subject, level, r.roi, "baseline", c0) - 100
            )  # fmt: skip
        expected = (true_t - 100) - np.mean(true_c)
        if r.roi in FIVE:  # controls do not change: the difference is the index's true change
            row = truth[(truth.subject == r.subject) & (truth.roi == r.roi)
                        & (truth.visit == r.visit) & (truth.role == "index")]  # fmt: skip
            assert expected == pytest.approx(float(row.treated_minus_control_pct.iloc[0]), abs=1e-4)
        se = sum(v for v, _ in terms) ** 0.5
        if abs(r.treated_minus_control_pct - expected) > _bound(se, _welch_df(terms), len(index)):
            failures.append((r.subject, r.roi, r.visit, r.treated_minus_control_pct, expected))
    assert not failures


def test_categories_right_beyond_noise(tables, truth):
    m, changes = tables["m"], _measured_rows(tables["changes"])
    five = changes[changes.roi.isin(FIVE)]
    checked = 0
    for r in five.itertuples():
        true = truth[(truth.subject == r.subject) & (truth.level == r.level)
                     & (truth.roi == r.roi) & (truth.visit == r.visit)].iloc[0]  # fmt: skip
        _, se, df = _pct_and_se(m, r.subject, r.level, r.roi, r.visit)
        if abs(true.change_pct) > _bound(se, df, len(five)):
            assert r.category == true.category, (r.subject, r.level, r.roi, r.visit)
            checked += 1
    assert checked >= 4  # the large index-disc changes (S04: +5 to +11 % nucleus) are checked


# -- patient data -----------------------------------------------------------------------------


def _phi_strings(cohort):
    out = []
    for s in cohort.plan.subjects:
        p = s.patient
        birth = p["PatientBirthDate"]
        out += [
            p["PatientName"],
            p["PatientName"].replace("^", " "),
            p["PatientID"],
            birth,
            f"{birth[:4]}-{birth[4:6]}-{birth[6:]}",
        ]
    return out


def test_no_patient_data_in_any_output(trial_run, cohort, tmp_path):
    phi = [s.encode() for s in _phi_strings(cohort)]
    # the strings are really in the input, so the search can find them
    dicom = next((cohort.folder / "S01" / "baseline" / "dicom").iterdir()).read_bytes()
    assert any(s in dicom for s in phi)
    files = [p for p in trial_run.out_dir.rglob("*") if p.is_file()]
    assert len(files) > 100
    for path in files:
        data = path.read_bytes()
        if path.name.endswith(".gz"):
            data = gzip.decompress(data)
        leaked = [s.decode() for s in phi if s in data]
        assert not leaked, f"{path}: {leaked}"
