"""A small synthetic study: manifest files, the answer key, visits, blinding and PHI."""

import csv
import json

import nibabel as nib
import numpy as np
import pydicom
import pytest

from discT2.errors import InputError
from discT2.phantom import ROI_NAMES, Protocol, roi_label
from discT2.phantom.study import make_study, plan_study

TINY = Protocol(matrix=(60, 80), pixel_mm=3.0, n_slices=3, n_echoes=5)
DERIVED = {"NP": ROI_NAMES[1:4], "AF": (ROI_NAMES[0], ROI_NAMES[4]), "disc": ROI_NAMES}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    plan = plan_study(2, visits_months=(0, 12, 24), seed=5, protocol=TINY)
    return make_study(tmp_path_factory.mktemp("study"), plan)


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _json(path):
    return json.loads(path.read_text())


def test_study_csv(study):
    rows = _rows(study.study_csv)
    assert list(rows[0]) == [
        "subject", "visit", "months", "dicom", "index_disc", "control_discs", "discs"
    ]  # fmt: skip
    assert [(r["subject"], r["visit"], r["months"]) for r in rows] == [
        (s, v, m)
        for s in ("S01", "S02")
        for v, m in (("baseline", "0"), ("m12", "12"), ("m24", "24"))
    ]
    for row, subject in zip(rows, [s for s in study.plan.subjects for _ in range(3)], strict=True):
        assert (study.folder / row["dicom"]).is_dir()
        assert row["index_disc"] == subject.index_disc
        controls = row["control_discs"].split(";")
        assert controls == list(subject.control_discs) and len(set(controls)) == 2
        assert row["index_disc"] not in controls
        if row["months"] == "0":
            discs = _json(study.folder / row["discs"])
            assert len(discs["discs"]) == 5
        else:
            assert row["discs"] == ""


def test_arms_are_kept_apart_and_balanced(study):
    arms = _rows(study.arms_csv)
    assert sorted(a["arm"] for a in arms) == ["MSC", "sham"]
    assert "arm" not in _rows(study.study_csv)[0]
    assert "arm" not in _rows(study.truth_csv)[0]


def test_index_disc_changes_by_the_stated_percentage_and_controls_do_not(study):
    rows = _rows(study.truth_csv)
    plans = {s.code: s for s in study.plan.subjects}
    checked = 0
    for row in rows:
        if row["roi"] not in ROI_NAMES:
            continue
        months = int(row["months"])
        subject = plans[row["subject"]]
        if row["role"] == "index":
            expected = subject.change_pct[row["roi"]] * months / 12.0
            assert row["level"] == subject.index_disc
        else:
            expected = 0.0
            assert row["change_pct"] == "0.000000"
            assert row["category"] == "no evolution"
        assert float(row["change_pct"]) == pytest.approx(expected, abs=1e-6)
        assert float(row["pct_of_baseline"]) == pytest.approx(100.0 + expected, abs=1e-6)
        assert float(row["t2_ms"]) == pytest.approx(
            float(row["baseline_t2_ms"]) * (1 + expected / 100), rel=1e-6
        )
        checked += 1
    assert checked == 2 * 2 * 3 * 5  # subjects x follow-ups x discs x ROIs
    # every index disc really changes, in the direction of its arm
    for subject in plans.values():
        assert subject.change_pct["NP_central"] != 0
        assert (subject.change_pct["NP_central"] > 0) == (subject.arm == "MSC")


def test_derived_rois_and_treated_vs_control_columns(study):
    rows = _rows(study.truth_csv)
    by_key = {(r["subject"], r["level"], r["roi"], r["visit"]): r for r in rows}
    for row in rows:
        if row["roi"] in DERIVED:
            t2 = {}
            for visit in ("baseline", row["visit"]):
                truth = _json(study.folder / row["subject"] / visit / "truth" / "truth.json")
                disc = next(d for d in truth["discs"] if d["level"] == row["level"])
                rois = disc["rois"]
                members = DERIVED[row["roi"]]
                n = sum(rois[m]["n_voxels"] for m in members)
                t2[visit] = sum(rois[m]["n_voxels"] * rois[m]["t2_ms"] for m in members) / n
            assert float(row["baseline_t2_ms"]) == pytest.approx(t2["baseline"], abs=1e-6)
            assert float(row["t2_ms"]) == pytest.approx(t2[row["visit"]], abs=1e-6)
        if row["role"] == "index":
            subject = next(s for s in study.plan.subjects if s.code == row["subject"])
            controls = [
                by_key[row["subject"], level, row["roi"], row["visit"]]
                for level in subject.control_discs
            ]
            change = float(row["change_pct"])
            mean_control = np.mean([float(c["change_pct"]) for c in controls])
            assert float(row["control_change_pct"]) == pytest.approx(mean_control, abs=2e-6)
            assert float(row["treated_minus_control_pct"]) == pytest.approx(
                change - mean_control, abs=2e-6
            )
            ratio_now = float(row["t2_ms"]) / np.mean([float(c["t2_ms"]) for c in controls])
            ratio_0 = float(row["baseline_t2_ms"]) / np.mean(
                [float(c["baseline_t2_ms"]) for c in controls]
            )
            assert float(row["ratio_change_pct"]) == pytest.approx(
                100 * (ratio_now / ratio_0 - 1), abs=1e-5
            )
            if round(change, 1) == 0:
                assert row["category"] == "no evolution"
            else:
                assert row["category"] == ("regeneration" if change > 0 else "degeneration")
        else:
            assert row["treated_minus_control_pct"] == ""


def test_follow_up_truth_maps(study):
    subject = study.plan.subjects[0]
    folder = study.folder / subject.code
    base = _json(folder / "baseline" / "truth" / "truth.json")
    for visit, months in (("m12", 12), ("m24", 24)):
        t2 = np.asarray(nib.load(folder / visit / "truth" / "t2.nii.gz").dataobj)
        rois = np.asarray(nib.load(folder / visit / "truth" / "rois.nii.gz").dataobj)
        for disc in base["discs"]:
            for i, name in enumerate(ROI_NAMES):
                band = rois == roi_label(disc["level"], i)
                factor = 1.0
                if disc["level"] == subject.index_disc:
                    factor += subject.change_pct[name] * months / 1200.0
                np.testing.assert_allclose(
                    t2[band], disc["rois"][name]["t2_ms"] * factor, rtol=1e-6
                )


def test_visits_reposition_the_spine(study):
    subject = study.plan.subjects[1]
    folder = study.folder / subject.code
    poses = subject.poses
    assert len({p.rotation_deg for p in poses.values()}) == 3
    base = _json(folder / "baseline" / "truth" / "discs.json")
    later = _json(folder / "m12" / "truth" / "discs.json")
    relative = poses["m12"].matrix @ np.linalg.inv(poses["baseline"].matrix)
    for a, b in zip(base["discs"], later["discs"], strict=True):
        for name in ("AS", "PS", "AI", "PI"):
            moved = relative[1:3, 1:3] @ np.array(a["corners_ras_mm"][name])[1:] + relative[1:3, 3]
            np.testing.assert_allclose(b["corners_ras_mm"][name][1:], moved, atol=1e-9)


def test_dicom_patient_fields_look_identifying_but_stay_in_the_dicom(study):
    phi = []
    for subject in study.plan.subjects:
        folder = study.folder / subject.code / "baseline" / "dicom"
        ds = pydicom.dcmread(next(folder.iterdir()))
        assert str(ds.PatientName) == subject.patient["PatientName"]
        assert str(ds.PatientName).startswith("PHANTOM^")
        assert ds.PatientID.startswith("SYN-PHI-") and subject.code not in ds.PatientID
        assert ds.PatientBirthDate == subject.patient["PatientBirthDate"]
        phi += [str(ds.PatientName), ds.PatientID, ds.PatientBirthDate]
    vendors = {
        pydicom.dcmread(next((study.folder / s.code / "m12" / "dicom").iterdir())).Manufacturer
        for s in study.plan.subjects
    }
    assert vendors == {"SIEMENS", "GE MEDICAL SYSTEMS"}
    for path in study.folder.rglob("*"):
        if path.is_file() and "dicom" not in path.parts:
            text = path.read_bytes()
            for value in phi:
                assert value.encode() not in text, (value, path)


def test_plans_are_reproducible():
    a = plan_study(3, seed=9, protocol=TINY)
    b = plan_study(3, seed=9, protocol=TINY)
    c = plan_study(3, seed=10, protocol=TINY)
    assert a == b
    assert a != c


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"visits_months": (12, 24)}, "start at 0"),
        ({"visits_months": (0, 12, 12)}, "increase"),
        ({"n_subjects": 0}, "at least one subject"),
        ({"vendor": "canon"}, "vendor must be"),
    ],
)
def test_plan_refusals(kwargs, match):
    with pytest.raises(InputError, match=match):
        plan_study(**kwargs)


def test_make_study_needs_an_output_format(tmp_path):
    with pytest.raises(InputError, match="nothing to write"):
        make_study(tmp_path, plan_study(1, protocol=TINY), dicom=False, nifti=False)
