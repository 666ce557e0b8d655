import importlib.util
import json
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from discT2 import DiscGeometry, DiscROIs, measure, place_rois, save_discs
from discT2.cli import main
from discT2.measure import MEASURE_COLUMNS


def _synthetic():
    name = "discT2_tests_synthetic"
    if name not in sys.modules:
        path = Path(__file__).parents[1] / "roi" / "_synthetic.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="module")
def exam():
    syn = _synthetic()
    shape = (150, 160, 3)
    affine = syn.sagittal_affine(shape=shape, pixel_mm=(1.5, 1.4), in_plane=("S-", "A-"))
    spine = syn.make_spine(degenerated=("L4-L5",))
    return syn.make_exam(
        spine, shape=shape, affine=affine, sigma=0.02, supersample=2, t2_layout="bands"
    )


@pytest.fixture
def files(exam, tmp_path):
    fit = tmp_path / "fit"
    exam.t2map.save(fit)
    discs = [
        DiscGeometry(lv, corners_ras_mm=exam.corners_ras[lv], pfirrmann=2)
        for lv in ("L2-L3", "L3-L4", "L4-L5")
    ]
    outline = np.array([exam.corners_ras["L1-L2"][c] for c in ("AS", "PS", "PI", "AI")])
    discs.append(DiscGeometry("L1-L2", outline_ras_mm=outline))
    return fit, save_discs(discs, tmp_path / "discs.json")


def test_rois_then_measure(exam, files, tmp_path, capsys):
    fit, discs = files
    out = tmp_path / "rois"
    assert main(["rois", str(fit), "--discs", str(discs), "-o", str(out), "--reader", "R"]) == 0
    for name in ("rois.json", "rois.nii.gz", "discs.json"):
        assert (out / name).is_file()
    rois = DiscROIs.load(out)
    expected = place_rois(exam.t2map, discs, reader="R")
    np.testing.assert_array_equal(rois.labels, expected.labels)
    assert rois.disc("L1-L2").method == "drawn" and rois.disc("L3-L4").reader == "R"
    doc = json.loads((out / "rois.json").read_text())
    assert doc["labels"]["31"] == {"level": "L3-L4", "roi": "AF_anterior"}
    # The written discs.json holds the corners derived from the outline, for a reader to check.
    written = json.loads((out / "discs.json").read_text())["discs"]
    assert {d["level"] for d in written if "corners_ras_mm" in d} == {
        "L1-L2",
        "L2-L3",
        "L3-L4",
        "L4-L5",
    }
    assert "L1-L2 (drawn" in capsys.readouterr().err

    csv = tmp_path / "m" / "measurements.csv"
    assert main(["measure", str(fit / "t2.nii.gz"), str(out / "rois.json"), "-o", str(csv)]) == 0
    table = pd.read_csv(csv)
    assert tuple(table.columns[: len(MEASURE_COLUMNS)]) == MEASURE_COLUMNS
    api = measure(exam.t2map, rois)
    np.testing.assert_allclose(table.t2_mean_ms, api.t2_mean_ms, rtol=1e-5)
    assert table.n_voxels.tolist() == api.n_voxels.tolist()
    syn = _synthetic()
    drawn = table[table.level.isin(["L2-L3", "L3-L4", "L4-L5"]) & table.roi.str.contains("_")]
    np.testing.assert_allclose(drawn.t2_mean_ms, np.tile(syn.BAND_T2_MS, 3), rtol=1e-5)
    assert set(drawn.pfirrmann) == {2}


def _sample(subject="S02", visit="baseline"):
    folder = Path(__file__).parents[2] / "sample_data" / subject / visit
    truth = json.loads((folder / "truth" / "discs.json").read_text())
    labels = np.asarray(nib.load(folder / "truth" / "rois.nii.gz").dataobj).astype(int)
    return folder / "dicom", truth, labels


def _dice(a, b):
    return 2 * np.sum(a & b) / max(np.sum(a) + np.sum(b), 1)


def test_rois_on_a_dicom_folder_with_one_click_per_disc(tmp_path, capsys):
    """The reader's discs.json gives only centres: each disc is grown (one-click tolerances of
    tests/roi/test_segment.py: every ROI Dice >= 0.5, each disc >= 0.65 at 1.875 mm)."""
    dicom, truth, labels = _sample()
    clicks = tmp_path / "clicks.json"
    clicks.write_text(
        json.dumps(
            {
                "discs": [
                    {"level": d["level"], "center_ras_mm": d["center_ras_mm"]}
                    for d in truth["discs"]
                ]
            }
        )
    )
    out = tmp_path / "rois"
    margins = ["--endplate-margin", "0", "--outer-margin", "0"]
    code = main(
        ["rois", str(dicom), "--discs", str(clicks), "-o", str(out), *margins, "--reader", "R"]
    )
    assert code == 0
    rois = DiscROIs.load(out)
    assert rois.levels == [d["level"] for d in truth["discs"]]
    k = truth["mid_sagittal_slice"]
    for disc in rois.discs:
        assert disc.method == "grown" and disc.reader == "R" and disc.slice == k
        n = 10 * (["T12-L1", "L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1"].index(disc.level))
        d = [_dice(rois.labels[..., k] == n + r, labels[..., k] == n + r) for r in range(1, 6)]
        assert min(d) >= 0.5 and np.mean(d) >= 0.65, (disc.level, d)
    written = json.loads((out / "discs.json").read_text())["discs"]
    assert all("corners_ras_mm" in d for d in written)
    # No patient-identifying DICOM field reaches the outputs.
    text = (out / "rois.json").read_text() + (out / "discs.json").read_text()
    assert "PHANTOM" not in text and "SYN-PHI" not in text
    assert "(grown" in capsys.readouterr().err


def test_rois_on_a_dicom_folder_with_auto(tmp_path, capsys):
    dicom, truth, labels = _sample("S04", "m12")
    out = tmp_path / "rois"
    assert main(["rois", str(dicom), "--auto", "-o", str(out), "--slices", "1"]) == 0
    rois = DiscROIs.load(out)
    assert rois.levels == ["T12-L1", "L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1"]
    assert all(d.method == "auto" and "review" in d.qa["flags"] for d in rois.discs)
    assert all(len(d.qa["slices"]) == 3 for d in rois.discs)  # mid +- 1
    for d in truth["discs"]:
        centre = rois.disc(d["level"]).centre_ras_mm
        assert np.linalg.norm(centre[1:] - np.asarray(d["center_ras_mm"])[1:]) < 5.0
    img = nib.load(out / "rois.nii.gz")
    assert img.shape == labels.shape
    assert "found 6 discs automatically" in capsys.readouterr().err
    # --auto with --discs: the levels in discs.json are kept as given, the others added.
    given = tmp_path / "given.json"
    first = truth["discs"][0]
    given.write_text(json.dumps({"discs": [first]}))
    out2 = tmp_path / "rois2"
    assert main(["rois", str(dicom), "--discs", str(given), "--auto", "-o", str(out2)]) == 0
    rois2 = DiscROIs.load(out2)
    assert rois2.disc(first["level"]).method == "drawn" and len(rois2.levels) == 6


def test_partial_failure_keeps_the_good_discs(exam, files, tmp_path, capsys):
    fit, _ = files
    bad = dict(exam.corners_ras["L3-L4"])
    bad["PS"], bad["PI"] = bad["PI"], bad["PS"]
    path = save_discs(
        [
            DiscGeometry("L3-L4", corners_ras_mm=bad),
            DiscGeometry("L2-L3", corners_ras_mm=exam.corners_ras["L2-L3"]),
        ],
        tmp_path / "mixed.json",
    )
    out = tmp_path / "rois"
    assert main(["rois", str(fit), "--discs", str(path), "-o", str(out)]) == 1
    assert DiscROIs.load(out).levels == ["L2-L3"]
    err = capsys.readouterr().err
    assert "L3-L4 not placed" in err and "crossed endplate lines" in err
    doc = json.loads((out / "rois.json").read_text())
    assert doc["failed"][0]["level"] == "L3-L4"


def test_errors_exit_2_with_a_message(files, tmp_path, capsys):
    fit, _ = files
    assert main(["rois", str(fit), "-o", str(tmp_path / "x")]) == 2
    assert "give --discs discs.json, or --auto" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text('{"discs": [{"level": "L7-S1", "center_ras_mm": [0, 0, 0]}]}')
    assert main(["rois", str(fit), "--discs", str(bad), "-o", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "unknown disc level 'L7-S1'" in err
    assert main(["rois", str(tmp_path / "nowhere"), "--discs", str(bad), "-o", "x"]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    assert main(["measure", str(fit), str(tmp_path / "none"), "-o", str(tmp_path / "m.csv")]) == 2
    assert "rois.json: missing" in capsys.readouterr().err


def test_a_folder_without_a_t2_map_is_read_as_dicom(tmp_path, files):
    _, discs = files
    folder = tmp_path / "not_dicom"
    folder.mkdir()
    (folder / "notes.txt").write_text("nothing here")
    # Without the DICOM loader the message says what to give instead; with it, the loader's
    # own error names the folder. Either way: a clear error, exit status 2.
    assert main(["rois", str(folder), "--discs", str(discs), "-o", str(tmp_path / "o")]) == 2
