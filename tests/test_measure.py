import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from discT2 import DiscGeometry, DiscROIs, GeometryError, InputError, T2Map, measure, place_rois
from discT2.maps import FitFlag
from discT2.measure import MEASURE_COLUMNS

AFFINE = np.array([[0, 0, 4.0, 0], [1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 0, 1]])


def _map(t2, flags=None, r2=None, sd=None):
    t2 = np.asarray(t2, float)
    return T2Map(
        t2_ms=t2,
        s0=np.ones_like(t2),
        t2_sd_ms=np.full_like(t2, 2.0) if sd is None else sd,
        r2=np.ones_like(t2) if r2 is None else r2,
        rmse=np.zeros_like(t2),
        flags=np.zeros(t2.shape, np.uint16) if flags is None else flags,
        affine=AFFINE,
        provenance={"method": "nlls"},
    )


@pytest.fixture
def hand_made():
    """Disc L4-L5: ROI k holds 10 * k voxels with known values, plus a few bad voxels."""
    shape = (20, 30, 1)
    rng = np.random.default_rng(0)
    t2 = np.full(shape, 60.0)
    labels = np.zeros(shape, np.uint8)
    flags = np.zeros(shape, np.uint16)
    r2 = np.ones(shape)
    for k in range(1, 6):
        labels[k - 1, : 10 * k // 2, 0] = 40 + k  # 5 k voxels in row k-1 ...
        labels[k + 9, : 10 * k // 2, 0] = 40 + k  # ... and 5 k more in row k+9
    values = rng.uniform(40, 140, shape)
    t2[labels > 0] = values[labels > 0]
    # Bad voxels in ROI 3 (NP_central): failed fit, NaN, implausible T2, low R2, poor-fit flag.
    roi3 = np.argwhere(labels[..., 0] == 43)
    (i0, j0), (i1, j1), (i2, j2), (i3, j3), (i4, j4) = roi3[:5]
    flags[i0, j0, 0] = FitFlag.FAILED
    t2[i0, j0, 0] = np.nan
    t2[i1, j1, 0] = np.nan
    t2[i2, j2, 0] = 1500.0
    r2[i3, j3, 0] = 0.2
    flags[i4, j4, 0] = FitFlag.POOR_FIT
    disc = DiscGeometry("L4-L5", center_ras_mm=[0, 10, 10], pfirrmann=4, reader="r")
    rois = DiscROIs(labels, AFFINE, [disc])
    return _map(t2, flags=flags, r2=r2), rois, labels, t2, (i4, j4)


def test_columns_and_rows(hand_made):
    t2map, rois, *_ = hand_made
    table = measure(t2map, rois)
    assert tuple(table.columns[: len(MEASURE_COLUMNS)]) == MEASURE_COLUMNS
    assert table.roi.tolist() == [
        "AF_anterior",
        "NP_anterior",
        "NP_central",
        "NP_posterior",
        "AF_posterior",
        "NP",
        "AF",
        "disc",
    ]
    assert set(table.level) == {"L4-L5"} and set(table.method) == {"nlls"}
    assert table.pfirrmann.tolist() == [4] * 8 and set(table.reader) == {"r"}


def test_statistics_and_exclusions(hand_made):
    t2map, rois, labels, t2, poor_fit = hand_made
    table = measure(t2map, rois).set_index("roi")
    for k, name in enumerate(
        ("AF_anterior", "NP_anterior", "NP_central", "NP_posterior", "AF_posterior"), 1
    ):
        values = t2[labels == 40 + k]
        if k == 3:  # NaN (2), 1500 ms, and the poor-fit flag are excluded; low R2 is not
            values = values[np.isfinite(values) & (values <= 1000)]
            values = values[values != t2[poor_fit[0], poor_fit[1], 0]]
        row = table.loc[name]
        assert row.n_voxels == values.size
        assert row.n_voxels + row.n_excluded == 10 * k
        assert row.t2_mean_ms == pytest.approx(values.mean())
        assert row.t2_median_ms == pytest.approx(np.median(values))
        assert row.t2_sd_ms == pytest.approx(values.std(ddof=1))
        assert row.t2_sem_ms == pytest.approx(values.std(ddof=1) / np.sqrt(values.size))
        assert row.t2_fit_se_ms == pytest.approx(2.0 / np.sqrt(values.size))
    row = table.loc["NP_central"]
    assert (row.n_excluded, row.n_failed, row.n_out_of_range) == (4, 3, 1)
    # With an R2 threshold the low-R2 voxel goes too.
    strict = measure(t2map, rois, min_r2=0.5).set_index("roi").loc["NP_central"]
    assert strict.n_excluded == 5 and strict.n_out_of_range == 2


def test_derived_rois_are_voxel_weighted(hand_made):
    t2map, rois, *_ = hand_made
    table = measure(t2map, rois, t2_range_ms=(5, 2000)).set_index("roi")
    five = table.loc[["AF_anterior", "NP_anterior", "NP_central", "NP_posterior", "AF_posterior"]]
    for name, members in {"NP": [1, 2, 3], "AF": [0, 4], "disc": [0, 1, 2, 3, 4]}.items():
        part = five.iloc[members]
        pooled = (part.t2_mean_ms * part.n_voxels).sum() / part.n_voxels.sum()
        assert table.loc[name].t2_mean_ms == pytest.approx(pooled)
        assert table.loc[name].n_voxels == part.n_voxels.sum()
        assert table.loc[name].n_excluded == part.n_excluded.sum()
    # Unequal ROI sizes: the voxel-weighted mean differs from the mean of the means.
    assert table.loc["disc"].t2_mean_ms != pytest.approx(five.t2_mean_ms.mean(), abs=0.1)


def test_empty_roi_gives_nan_not_an_error(hand_made):
    t2map, rois, labels, *_ = hand_made
    labels = labels.copy()
    labels[labels == 43] = 0
    table = measure(t2map, DiscROIs(labels, AFFINE, rois.discs)).set_index("roi")
    assert table.loc["NP_central"].n_voxels == 0
    assert np.isnan(table.loc["NP_central"].t2_mean_ms)
    assert table.loc["NP"].n_voxels == table.loc[["NP_anterior", "NP_posterior"]].n_voxels.sum()


def test_grid_mismatch_and_bad_range(hand_made):
    t2map, rois, *_ = hand_made
    shifted = AFFINE.copy()
    shifted[0, 3] += 4.0  # one slice to the right
    other = DiscROIs(rois.labels, shifted, rois.discs)
    with pytest.raises(GeometryError, match="not on the same grid"):
        measure(t2map, other)
    with pytest.raises(InputError, match="t2_range_ms"):
        measure(t2map, rois, t2_range_ms=(100, 10))


def _synthetic():
    name = "discT2_tests_synthetic"
    if name not in sys.modules:
        path = Path(__file__).parent / "roi" / "_synthetic.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="module")
def bands():
    syn = _synthetic()
    shape = (150, 160, 3)
    affine = syn.sagittal_affine(shape=shape, pixel_mm=(1.5, 1.4), in_plane=("S+", "A+"))
    exam = syn.make_exam(shape=shape, affine=affine, supersample=1, t2_layout="bands")
    discs = [
        DiscGeometry(lv, corners_ras_mm=exam.corners_ras[lv])
        for lv in ("L1-L2", "L2-L3", "L3-L4", "L4-L5")
    ]
    return syn, exam, place_rois(exam.t2map, discs)


def test_noise_free_map_gives_the_true_band_t2_exactly(bands):
    syn, exam, rois = bands
    table = measure(exam.t2map, rois)
    five = table[~table.roi.isin(["NP", "AF", "disc"])]
    expected = np.tile(syn.BAND_T2_MS, 4)
    np.testing.assert_allclose(five.t2_mean_ms, expected, rtol=1e-6)
    np.testing.assert_allclose(five.t2_median_ms, expected, rtol=1e-6)
    np.testing.assert_allclose(five.t2_sd_ms, 0, atol=1e-4)
    assert (table.n_excluded == 0).all()


def test_noisy_map_within_the_standard_error(bands):
    syn, exam, rois = bands
    rng = np.random.default_rng(3)
    sigma = 8.0
    noisy = _map(
        exam.t2map.t2_ms + rng.normal(0, sigma, exam.t2map.shape),
        sd=np.full(exam.t2map.shape, sigma),
    )
    noisy.affine = exam.t2map.affine
    table = measure(noisy, rois)
    five = table[~table.roi.isin(["NP", "AF", "disc"])]
    expected = np.tile(syn.BAND_T2_MS, 4)
    # 20 ROI means, each within 4 standard errors (two-sided p ~ 6e-5 per ROI).
    assert np.all(np.abs(five.t2_mean_ms - expected) < 4 * five.t2_sem_ms)
    np.testing.assert_allclose(five.t2_fit_se_ms, sigma / np.sqrt(five.n_voxels), rtol=1e-5)
    np.testing.assert_allclose(five.t2_sd_ms, sigma, rtol=0.35)


def test_levels_filter(bands):
    _, exam, rois = bands
    table = measure(exam.t2map, rois, levels=["L3/4"])
    assert set(table.level) == {"L3-L4"} and len(table) == 8
