import json
from dataclasses import replace

import numpy as np
import pytest

from discT2 import DiscGeometry, GeometryError, RoiError, T2Map, place_rois, save_discs
from discT2.roi.levels import LEVELS


def _drawn(exam, levels=LEVELS):
    return [DiscGeometry(lv, corners_ras_mm=exam.corners_ras[lv]) for lv in levels]


def _inside(exam, levels=LEVELS):
    """Levels whose true disc lies wholly inside the field of view."""
    out = []
    for lv in levels:
        ijk = exam.series.world_to_voxel(np.array(list(exam.corners_ras[lv].values())))
        if np.all(ijk[:, :2] >= 0) and np.all(ijk[:, :2] <= np.array(exam.series.shape[:2]) - 1):
            out.append(lv)
    return out


@pytest.fixture(
    scope="module",
    params=[
        {"pixel_mm": (1.5, 1.4), "in_plane": ("A+", "S-")},
        {"pixel_mm": (0.9, 1.3), "in_plane": ("S+", "A-")},
        {"pixel_mm": (1.2, 1.2), "in_plane": ("S-", "A+"), "inplane_rotation_deg": 20.0},
    ],
    ids=["AS-1.5mm", "SA-anisotropic", "oblique-20deg"],
)
def grid_exam(request, syn):
    shape = (int(230 / request.param["pixel_mm"][0]), int(230 / request.param["pixel_mm"][1]), 3)
    affine = syn.sagittal_affine(shape=shape, **request.param)
    return syn.make_exam(shape=shape, affine=affine, supersample=1, t2_layout="bands")


def test_true_corners_give_the_true_bands_exactly(grid_exam):
    """Dice 1: the voxel-centre rule on the same geometry, whatever the in-plane axes."""
    levels = _inside(grid_exam)
    assert len(levels) >= 5
    rois = place_rois(grid_exam.t2map, _drawn(grid_exam, levels), endplate_margin=0, outer_margin=0)
    k = grid_exam.mid_slice
    truth = grid_exam.truth_labels[:, :, k]
    truth = np.where(np.isin(truth // 10, [LEVELS.index(lv) for lv in levels]), truth, 0)
    np.testing.assert_array_equal(rois.labels[:, :, k], truth)
    others = np.delete(rois.labels, k, axis=2)
    assert not others.any()


def test_margins_only_remove_voxels(band_exam):
    levels = _inside(band_exam)
    plain = place_rois(
        band_exam.t2map, _drawn(band_exam, levels), endplate_margin=0, outer_margin=0
    )
    rois = place_rois(band_exam.t2map, _drawn(band_exam, levels))
    kept = rois.labels > 0
    np.testing.assert_array_equal(rois.labels[kept], plain.labels[kept])
    for disc in rois.discs:
        n = disc.qa["n_voxels"]
        n_plain = plain.disc(disc.level).qa["n_voxels"]
        assert all(0 < n[r] < n_plain[r] for r in n)
        assert disc.qa["margins_mm"]["endplate"][0] == pytest.approx(1.4, rel=0.2)


def test_multi_slice_and_clipping(band_exam):
    disc = _drawn(band_exam, ["L3-L4"])
    rois = place_rois(band_exam.t2map, disc, slices=1)
    per_slice = [np.count_nonzero(rois.labels[:, :, k]) for k in range(3)]
    assert per_slice[0] == per_slice[1] == per_slice[2] > 0
    assert rois.disc("L3-L4").qa["slices"] == [0, 1, 2]
    wide = place_rois(band_exam.t2map, disc, slices=2)
    assert "slices_clipped" in wide.disc("L3-L4").qa["flags"]
    assert np.count_nonzero(wide.labels) == np.count_nonzero(rois.labels)


def test_outline_gives_corners_and_clips(band_exam):
    level = "L2-L3"
    c = band_exam.corners_ras[level]
    quad = np.array([c["AS"], c["PS"], c["PI"], c["AI"]])
    t = np.linspace(0, 1, 12, endpoint=False)[:, None]
    outline = np.vstack([a + t * (b - a) for a, b in zip(quad, np.roll(quad, -1, 0), strict=True)])
    by_outline = place_rois(band_exam.t2map, [DiscGeometry(level, outline_ras_mm=outline)])
    by_corners = place_rois(band_exam.t2map, _drawn(band_exam, [level]))
    np.testing.assert_array_equal(by_outline.labels, by_corners.labels)
    got = by_outline.disc(level).corners_ras_mm
    for name in c:
        np.testing.assert_allclose(got[name], c[name], atol=1e-6)


def test_provenance_and_qa(band_exam):
    discs = _drawn(band_exam, ["L4-L5"])
    discs[0].pfirrmann = 3
    rois = place_rois(band_exam.t2map, discs, reader="reader B")
    disc = rois.disc("L4-L5")
    assert disc.method == "drawn" and disc.reader == "reader B" and disc.pfirrmann == 3
    assert disc.series["series_instance_uid"] == band_exam.series.meta["series_instance_uid"]
    assert disc.slice == band_exam.mid_slice
    assert "review" not in disc.qa["flags"]
    counts = np.bincount(rois.labels.ravel(), minlength=56)
    assert disc.qa["n_voxels"]["NP_central"] == counts[43]
    assert disc.qa["measures"]["height_anterior_mm"] == pytest.approx(12.5, abs=0.01)
    assert rois.options["fractions"] == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert rois.provenance["software"].startswith("discT2 ")


def test_review_flag_until_a_reader_accepts(band_exam):
    """Automatic and propagated discs are flagged ``review``; once accepted, no longer."""
    (disc,) = _drawn(band_exam, ["L4-L5"])
    auto = replace(disc, method="auto")
    assert "review" in place_rois(band_exam.t2map, [auto]).disc("L4-L5").qa["flags"]
    accepted = replace(auto, qa={"reviewed": {"status": "accepted", "reader": "B"}})
    placed = place_rois(band_exam.t2map, [accepted]).disc("L4-L5")
    assert "review" not in placed.qa["flags"]
    assert placed.qa["reviewed"]["status"] == "accepted"


def test_reader_is_not_taken_from_the_operating_system(band_exam):
    rois = place_rois(band_exam.t2map, _drawn(band_exam, ["L4-L5"]))
    assert rois.disc("L4-L5").reader == ""


def test_corner_outside_the_image_is_refused(band_exam, tmp_path):
    disc = _drawn(band_exam, ["L3-L4"])[0]
    disc.corners_ras_mm["PI"] = disc.corners_ras_mm["PI"] + [0, -400.0, 0]
    path = save_discs([disc], tmp_path / "discs.json")
    with pytest.raises(RoiError, match=rf"disc L3-L4 in {path}: PI at RAS .* outside the image"):
        place_rois(band_exam.t2map, path)


def test_crossed_endplates_are_refused(band_exam):
    c = dict(band_exam.corners_ras["L3-L4"])
    c["PS"], c["PI"] = c["PI"], c["PS"]
    with pytest.raises(RoiError, match="disc L3-L4: crossed endplate lines"):
        place_rois(band_exam.t2map, [DiscGeometry("L3-L4", corners_ras_mm=c)])


def test_landmarks_on_different_slices_are_refused(band_exam):
    c = dict(band_exam.corners_ras["L3-L4"])
    c["AS"] = c["AS"] + [5.0, 0, 0]  # more than a slice (4 mm) to the right
    with pytest.raises(RoiError, match="place all of them on one sagittal slice"):
        place_rois(band_exam.t2map, [DiscGeometry("L3-L4", corners_ras_mm=c)])


def test_unknown_level_in_a_file_names_the_file(band_exam, tmp_path):
    path = tmp_path / "discs.json"
    good = DiscGeometry("L3-L4", corners_ras_mm=band_exam.corners_ras["L3-L4"]).to_dict()
    path.write_text(json.dumps({"discs": [good, {**good, "level": "L6-S1"}]}))
    with pytest.raises(RoiError, match=rf"{path}, disc 2: unknown disc level 'L6-S1'"):
        place_rois(band_exam.t2map, path)


def test_flag_mode_keeps_the_good_discs(band_exam):
    bad = dict(band_exam.corners_ras["L2-L3"])
    bad["AS"], bad["AI"] = bad["AI"], bad["AS"]
    discs = [
        DiscGeometry("L2-L3", corners_ras_mm=bad),
        *_drawn(band_exam, ["L3-L4", "L4-L5"]),
    ]
    rois = place_rois(band_exam.t2map, discs, on_error="flag")
    assert rois.levels == ["L3-L4", "L4-L5"]
    assert rois.failed[0]["level"] == "L2-L3"
    assert "crossed endplate lines" in rois.failed[0]["error"]
    assert not np.isin(rois.labels // 10, [2]).any()


def test_overlapping_discs_are_flagged(band_exam):
    c = band_exam.corners_ras["L3-L4"]
    shifted = {k: v + np.array([0, 0, 3.0]) for k, v in c.items()}
    rois = place_rois(
        band_exam.t2map,
        [DiscGeometry("L3-L4", corners_ras_mm=c), DiscGeometry("L2-L3", corners_ras_mm=shifted)],
    )
    assert "overlaps_L3-L4" in rois.disc("L2-L3").qa["flags"]


def test_axial_grids_are_refused():
    t2 = np.full((20, 20, 3), 80.0)
    m = T2Map(
        t2_ms=t2,
        s0=t2,
        t2_sd_ms=t2,
        r2=t2,
        rmse=t2,
        flags=np.zeros(t2.shape),
        affine=np.diag([1.0, 1.0, 4.0, 1.0]),
    )
    disc = DiscGeometry(
        "L4-L5",
        corners_ras_mm={"AS": [5, 15, 0], "PS": [5, 5, 0], "AI": [5, 15, 0.5], "PI": [5, 5, 0.5]},
    )
    with pytest.raises(GeometryError, match="sagittal"):
        place_rois(m, [disc])


def test_bad_options_are_refused(band_exam):
    discs = _drawn(band_exam, ["L3-L4"])
    with pytest.raises(RoiError, match="endplate_margin must be"):
        place_rois(band_exam.t2map, discs, endplate_margin=-1)
    with pytest.raises(RoiError, match="slices must be a whole number"):
        place_rois(band_exam.t2map, discs, slices=1.5)
    with pytest.raises(RoiError, match="margin_unit"):
        place_rois(band_exam.t2map, discs, margin_unit="cm")
    with pytest.raises(RoiError, match="level given more than once"):
        place_rois(band_exam.t2map, discs + discs)
