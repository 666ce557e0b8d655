"""Figures: real pixels of the right colours where the ROIs are, orientation, aspect, data."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgb

from discT2.errors import InputError, ShapeMismatchError
from discT2.report import (
    ROI_COLORS,
    T2_CMAP,
    change_table,
    figure_to_png,
    plot_arm_boxes,
    plot_t2_rois,
    plot_trajectories,
)
from discT2.report.figures import render_rgba

# Well separated on the 0-200 ms scale so every region has its own colour.
T2 = {
    "AF_anterior": 40.0,
    "NP_anterior": 90.0,
    "NP_central": 150.0,
    "NP_posterior": 120.0,
    "AF_posterior": 65.0,
}
BACKGROUND_MS = 15.0


def _pixels_of(rgb: np.ndarray, color, tol=3 / 255) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of every pixel within ``tol`` of ``color`` in each channel."""
    hit = np.all(np.abs(rgb - np.asarray(color)[:3]) <= tol, axis=-1)
    return np.nonzero(hit)


def _t2_color(t2_ms):
    return T2_CMAP(t2_ms / 200.0)[:3]


@pytest.fixture
def exam(study):
    return study.sagittal_disc(T2, background_ms=BACKGROUND_MS)


def _render(fig):
    """Pixels of the map's axes only (the colour bar holds every T2 colour too), as floats."""
    rgba = render_rgba(fig)
    x0, y0, x1, y1 = np.round(fig.axes[0].get_window_extent().extents).astype(int)
    height = rgba.shape[0]
    return rgba[height - y1 : height - y0, x0:x1, :3].astype(float) / 255.0


def _regions(rgb):
    """Centroid (row, col) and box of each ROI's fill and outline, and of the bright marker."""
    out = {}
    for roi, t2 in T2.items():
        fr, fc = _pixels_of(rgb, _t2_color(t2))
        orow, ocol = _pixels_of(rgb, to_rgb(ROI_COLORS[roi]), tol=2 / 255)
        out[roi] = {"fill": (fr, fc), "outline": (orow, ocol)}
    return out


def test_roi_fill_and_outline_colours(exam):
    t2, labels, affine, _ = exam
    rgb = _render(plot_t2_rois(t2, labels, affine=affine))
    for roi, found in _regions(rgb).items():
        fr, fc = found["fill"]
        orow, ocol = found["outline"]
        assert fr.size > 300, f"{roi}: T2 colour of {T2[roi]} ms not drawn"
        assert orow.size > 60, f"{roi}: outline colour missing"
        # the outline surrounds the fill: fill box inside the outline box, centroids close
        assert orow.min() <= fr.min() and fr.max() <= orow.max()
        assert ocol.min() <= fc.min() and fc.max() <= ocol.max()
        assert abs(fc.mean() - ocol.mean()) < 0.15 * (ocol.max() - ocol.min()) + 2
    # every outline colour is far from the map's colours: no false outline pixels elsewhere
    lut = T2_CMAP(np.linspace(0, 1, 256))[:, :3]
    for color in ROI_COLORS.values():
        assert np.min(np.max(np.abs(lut - to_rgb(color)), axis=1)) > 0.2


def test_anterior_left_superior_up_and_square_voxels_in_mm(exam):
    t2, labels, affine, info = exam
    rgb = _render(plot_t2_rois(t2, labels, affine=affine))
    regions = _regions(rgb)
    cols = [regions[r]["fill"][1].mean() for r in T2]
    assert cols == sorted(cols), "ROIs must run anterior (left) to posterior (right)"
    mr, mc = _pixels_of(rgb, _t2_color(info["marker_ms"]))
    disc_rows = np.concatenate([regions[r]["fill"][0] for r in T2])
    assert mr.size > 100 and mr.mean() < disc_rows.min(), "marker is superior: above the disc"
    # a 6 x 6 mm square drawn from 0.5 x 1.0 mm voxels stays square on screen
    height, width = mr.max() - mr.min() + 1, mc.max() - mc.min() + 1
    assert width == pytest.approx(height, abs=2)


@pytest.mark.parametrize("variant", ["flip_ap", "flip_si", "swap_axes", "slice_axis_first"])
def test_view_does_not_depend_on_storage_order(exam, variant):
    t2, labels, affine, _ = exam
    ref = _regions(_render(plot_t2_rois(t2, labels, affine=affine)))
    a = affine.copy()
    if variant == "flip_ap":
        n = t2.shape[0]
        t2, labels = t2[::-1], labels[::-1]
        a[:, 0] = -affine[:, 0]
        a[:, 3] = affine @ [n - 1, 0, 0, 1]
    elif variant == "flip_si":
        n = t2.shape[1]
        t2, labels = t2[:, ::-1], labels[:, ::-1]
        a[:, 1] = -affine[:, 1]
        a[:, 3] = affine @ [0, n - 1, 0, 1]
    elif variant == "swap_axes":
        t2, labels = t2.transpose(1, 0, 2), labels.transpose(1, 0, 2)
        a[:, [0, 1]] = affine[:, [1, 0]]
    else:  # as NIfTI tools reorient to RAS: left-right first
        t2, labels = t2.transpose(2, 0, 1), labels.transpose(2, 0, 1)
        a[:, [0, 1, 2]] = affine[:, [2, 0, 1]]
    got = _regions(_render(plot_t2_rois(t2, labels, affine=a)))
    for roi in T2:
        for part in ("fill", "outline"):
            (r0, c0), (r1, c1) = ref[roi][part], got[roi][part]
            assert r1.mean() == pytest.approx(r0.mean(), abs=1.5)
            assert c1.mean() == pytest.approx(c0.mean(), abs=1.5)


def test_pixel_array_view_without_affine(exam):
    t2, labels, _, info = exam
    sl = info["mid_slice"]
    rgb = _render(plot_t2_rois(t2[:, :, sl], labels[:, :, sl], voxel_size_mm=(0.5, 1.0)))
    regions = _regions(rgb)
    assert regions["AF_anterior"]["fill"][1].mean() < regions["AF_posterior"]["fill"][1].mean()
    mr, mc = _pixels_of(rgb, _t2_color(info["marker_ms"]))
    assert (mc.max() - mc.min()) == pytest.approx(mr.max() - mr.min(), abs=2)


def test_colour_bar_is_labelled_in_ms(exam):
    t2, labels, affine, _ = exam
    fig = plot_t2_rois(t2, labels, affine=affine, t2_range_ms=(0, 180))
    bar = fig.axes[1]
    assert bar.get_ylabel() == "T2 (ms)"
    assert bar.get_ylim() == pytest.approx((0, 180))
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == list(T2)


def test_only_the_named_rois_are_outlined(exam):
    t2, labels, affine, _ = exam
    rgb = _render(plot_t2_rois(t2, labels, affine=affine, roi_names={43: "NP_central"}))
    regions = _regions(rgb)
    assert regions["NP_central"]["outline"][0].size > 60
    assert regions["AF_anterior"]["outline"][0].size == 0


def test_bad_input_is_refused(exam):
    t2, labels, affine, _ = exam
    with pytest.raises(ShapeMismatchError, match="label shape"):
        plot_t2_rois(t2, labels[:-1], affine=affine)
    with pytest.raises(InputError, match="none of the ROI labels"):
        plot_t2_rois(t2, np.zeros_like(labels), affine=affine)
    with pytest.raises(InputError, match="affine or voxel_size_mm"):
        plot_t2_rois(t2, labels)
    with pytest.raises(InputError, match="holds none of the ROI labels"):
        plot_t2_rois(t2, labels, affine=affine, slice_index=0)


def test_png_bytes(exam):
    t2, labels, affine, _ = exam
    png = figure_to_png(plot_t2_rois(t2, labels, affine=affine))
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_trajectories_plot_the_table(study):
    m, truth = study.cohort(n_subjects=2, visits=(("M0", 0), ("M12", 12), ("M24", 24)))
    c = change_table(m)
    fig = plot_trajectories(c, "S01", tau_pct=2.0)
    assert [ax.get_title() for ax in fig.axes] == ["NP", "AF", "disc"]
    lines = {ln.get_label(): ln for ln in fig.axes[0].get_lines()}
    index = lines["L4-L5 (index)"]
    assert index.get_xdata().tolist() == [0.0, 12.0, 24.0]
    expected = [100.0, truth[("S01", "L4-L5", "NP", "M12")], truth[("S01", "L4-L5", "NP", "M24")]]
    assert index.get_ydata() == pytest.approx(expected)
    assert index.get_linestyle() == "-" and lines["L2-L3 (control)"].get_linestyle() == "--"
    with pytest.raises(InputError, match="no changes for subject"):
        plot_trajectories(c, "S99")


def test_arm_boxes_show_every_subject(study):
    m, _ = study.cohort(n_subjects=6, seed=2)
    c = change_table(m)
    arms = pd.DataFrame({"subject": sorted(set(m["subject"])), "arm": ["a", "b"] * 3})
    fig = plot_arm_boxes(c, arms, roi="NP", endpoint="change_pct")
    ax = fig.axes[0]
    points = np.concatenate(
        [np.asarray(col.get_offsets())[:, 1] for col in ax.collections if len(col.get_offsets())]
    )
    values = c[(c["role"] == "index") & (c["roi"] == "NP")]["change_pct"].to_numpy()
    assert np.sort(points).tolist() == pytest.approx(np.sort(values).tolist())
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b"]


def test_navia_is_the_cmcrameri_map():
    data = np.loadtxt(Path(importlib.util.find_spec("cmcrameri").origin).parent / "cmaps/navia.txt")
    assert T2_CMAP.N == 256
    assert T2_CMAP(np.arange(256))[:, :3] == pytest.approx(data)
    assert T2_CMAP(np.nan)[:3] == pytest.approx((0.5, 0.5, 0.5))


def test_no_pyplot_state():
    code = (
        "import sys, numpy as np\n"
        "from discT2.report import plot_t2_rois, figure_to_png\n"
        "lab = np.zeros((20, 20), int); lab[5:10, 5:10] = 43\n"
        "figure_to_png(plot_t2_rois(np.full((20, 20), 100.0), lab, voxel_size_mm=(1, 1)))\n"
        "print('matplotlib.pyplot' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": ":".join(sys.path), "MPLBACKEND": ""},
    )
    assert out.stdout.strip() == "False"
