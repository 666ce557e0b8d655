import json

import nibabel as nib
import numpy as np
import pytest

from discT2 import DiscGeometry, DiscROIs, RoiError, load_discs, place_rois


@pytest.fixture(scope="module")
def placed(band_exam):
    discs = [
        DiscGeometry(lv, corners_ras_mm=band_exam.corners_ras[lv], pfirrmann=2)
        for lv in ("L2-L3", "L3-L4", "L4-L5")
    ]
    return place_rois(band_exam.t2map, discs, reader="reader C")


def test_save_writes_the_contract_files(placed, tmp_path, band_exam):
    written = placed.save(tmp_path / "rois")
    img = nib.load(written["labels"])
    np.testing.assert_allclose(img.affine, band_exam.t2map.affine, atol=1e-5)
    labels = np.asarray(img.dataobj)
    np.testing.assert_array_equal(labels, placed.labels)
    assert set(np.unique(labels)) == {0} | {10 * n + k for n in (2, 3, 4) for k in range(1, 6)}
    doc = json.loads(written["json"].read_text())
    assert doc["labels"]["41"] == {"level": "L4-L5", "roi": "AF_anterior"}
    assert doc["labels"]["25"] == {"level": "L2-L3", "roi": "AF_posterior"}
    assert len(doc["labels"]) == 15
    disc = doc["discs"][2]
    assert disc["level"] == "L4-L5" and disc["pfirrmann"] == 2
    assert set(disc["corners_ras_mm"]) == {"AS", "PS", "AI", "PI"}
    prov = disc["provenance"]
    assert prov["method"] == "drawn" and prov["reader"] == "reader C"
    assert prov["slice"] == band_exam.mid_slice and prov["created"]
    assert prov["series"]["series_description"] == "synthetic MESE sag"
    assert disc["qa"]["n_voxels"]["NP_central"] > 0
    assert "height_middle_mm" in disc["qa"]["measures"]
    assert doc["provenance"]["software"].startswith("discT2")


def test_load_round_trip(placed, tmp_path):
    placed.save(tmp_path)
    for path in (tmp_path, tmp_path / "rois.json", tmp_path / "rois.nii.gz"):
        back = DiscROIs.load(path)
        np.testing.assert_array_equal(back.labels, placed.labels)
        assert back.levels == placed.levels
        assert back.disc("L3-L4").reader == "reader C"
        assert back.options == placed.options
    # rois.json also serves as a discs.json (e.g. to place the same discs again).
    again = place_rois_from(tmp_path / "rois.json", placed)
    np.testing.assert_array_equal(again.labels, placed.labels)


def place_rois_from(path, placed):
    from discT2 import T2Map

    m = T2Map(
        t2_ms=np.zeros(placed.shape),
        s0=np.zeros(placed.shape),
        t2_sd_ms=np.zeros(placed.shape),
        r2=np.zeros(placed.shape),
        rmse=np.zeros(placed.shape),
        flags=np.zeros(placed.shape),
        affine=placed.affine,
    )
    discs = load_discs(path)
    assert discs[0].qa["n_voxels"]  # the old QA is read...
    return place_rois(m, discs)  # ...and recomputed


def test_masks(placed):
    np_mask = placed.mask("L3-L4", "NP")
    assert np_mask.sum() == sum(
        placed.disc("L3-L4").qa["n_voxels"][r]
        for r in ("NP_anterior", "NP_central", "NP_posterior")
    )
    assert placed.mask("L3-L4").sum() == np.isin(placed.labels, range(31, 36)).sum()
    assert placed.mask("L3-L4", "AF_anterior").sum() == (placed.labels == 31).sum()
    assert placed.mask("L3-L4", [1, 5]).sum() == placed.mask("L3-L4", "AF").sum()
    with pytest.raises(RoiError, match="no disc L5-S1 in this ROI set"):
        placed.mask("L5-S1")


def test_load_refuses_inconsistent_files(placed, tmp_path):
    placed.save(tmp_path)
    doc = json.loads((tmp_path / "rois.json").read_text())
    doc["labels"]["41"] = {"level": "L4-L5", "roi": "NP_central"}
    (tmp_path / "rois.json").write_text(json.dumps(doc))
    with pytest.raises(RoiError, match="label 41 is"):
        DiscROIs.load(tmp_path)
    (tmp_path / "rois.nii.gz").unlink()
    with pytest.raises(RoiError, match=r"rois\.nii\.gz: missing"):
        DiscROIs.load(tmp_path)


def test_labels_without_geometry_are_refused(placed):
    labels = placed.labels.copy()
    labels[0, 0, 0] = 51
    with pytest.raises(RoiError, match=r"label 51 .*L5-S1.* has no disc geometry"):
        DiscROIs(labels, placed.affine, placed.discs)
