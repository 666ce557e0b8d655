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
from discT2.io import save_nifti_series
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
    centre = np.mean(list(exam.corners_ras["L1-L2"].values()), axis=0)
    discs.append(DiscGeometry("L1-L2", center_ras_mm=centre))
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
    assert rois.disc("L1-L2").method == "grown" and rois.disc("L3-L4").reader == "R"
    doc = json.loads((out / "rois.json").read_text())
    assert doc["labels"]["31"] == {"level": "L3-L4", "roi": "AF_anterior"}
    # The written discs.json holds the grown disc's corners for a reader to check and edit.
    written = json.loads((out / "discs.json").read_text())["discs"]
    assert {d["level"] for d in written if "corners_ras_mm" in d} == {
        "L1-L2",
        "L2-L3",
        "L3-L4",
        "L4-L5",
    }
    assert "L1-L2 (grown" in capsys.readouterr().err

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


def test_rois_on_a_nifti_series_with_auto(exam, tmp_path):
    series = save_nifti_series(exam.series, tmp_path / "mese.nii.gz")
    out = tmp_path / "rois"
    assert main(["rois", str(series), "--auto", "-o", str(out), "--slices", "1"]) == 0
    rois = DiscROIs.load(out)
    assert rois.levels[-1] == "L5-S1" and len(rois.levels) >= 5
    assert all(d.method == "auto" and "review" in d.qa["flags"] for d in rois.discs)
    img = nib.load(out / "rois.nii.gz")
    np.testing.assert_allclose(img.affine, exam.series.affine, atol=1e-5)


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
