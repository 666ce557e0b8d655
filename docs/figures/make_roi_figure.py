"""Draw the disc ROI geometry figure of docs/methods/rois.md from the sample data.

    PYTHONPATH=src python docs/figures/make_roi_figure.py [--exam S01/baseline] [--level L4-L5]
                                                          [-o docs/figures/roi_geometry.png]
    python docs/figures/make_roi_figure.py --t2map FIT_DIR --rois ROIS_DIR --level L4-L5

By default it reads one exam of the committed ``sample_data/`` (DICOM), fits its T2 map (EPG),
finds its discs automatically and draws: the mid-sagittal slice with every disc found, its
level and its five ROIs; the geometry of one disc (the bands between its endplate lines, in
patient mm, the true corners in grey); and the voxels of each of that disc's ROIs on the T2 map
(1-voxel margins). With ``--t2map`` and ``--rois`` (the outputs of ``discT2 fit`` and
``discT2 rois``) the last two panels show that exam instead.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from discT2 import DiscGeometry, DiscROIs, T2Map, detect_discs, fit_t2, load_series, place_rois
from discT2.roi import ROI_NAMES
from discT2.roi._grid import grid_of
from discT2.roi._view import sagittal_crop
from discT2.roi.levels import level_index

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"
COLOURS = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e")


def draw_geometry(ax, disc: DiscGeometry, truth: dict | None = None) -> None:
    """Middle panel: corners, endplate lines, band boundaries and measures, in patient mm."""
    c = {k: np.array([-v[1], v[2]]) for k, v in disc.corners_ras_mm.items()}  # x = posterior
    f = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)

    def s_line(t):
        return c["AS"] + t * (c["PS"] - c["AS"])

    def i_line(t):
        return c["AI"] + t * (c["PI"] - c["AI"])

    for k in range(5):
        quad = np.array([s_line(f[k]), s_line(f[k + 1]), i_line(f[k + 1]), i_line(f[k])])
        ax.fill(quad[:, 0], quad[:, 1], color=COLOURS[k], alpha=0.35, lw=0)
        mid = quad.mean(axis=0)
        ax.text(*mid, f"{k + 1}\n{ROI_NAMES[k]}", ha="center", va="center", fontsize=6.5)
    for t in f[1:-1]:
        p, q = s_line(t), i_line(t)
        ax.plot([p[0], q[0]], [p[1], q[1]], color="0.3", lw=0.8, ls="--")
        ax.text(*(p + (p - q) * 0.12), f"f={t:g}", fontsize=6, ha="center", color="0.3")
    for p, q in ((c["AS"], c["PS"]), (c["AI"], c["PI"])):
        ax.plot([p[0], q[0]], [p[1], q[1]], color="k", lw=1.5)
    ax.text(
        0.02,
        0.97,
        "S(t) = AS + t (PS - AS)\nI(t) = AI + t (PI - AI)\nROI k: f(k-1) <= t < f(k)",
        transform=ax.transAxes,
        fontsize=7,
        va="top",
    )
    ax.plot([c["AS"][0], c["AI"][0]], [c["AS"][1], c["AI"][1]], color="k", lw=0.8)
    ax.plot([c["PS"][0], c["PI"][0]], [c["PS"][1], c["PI"][1]], color="k", lw=0.8)
    if truth is not None:
        t = np.array([[-truth[n][1], truth[n][2]] for n in ("AS", "PS", "PI", "AI", "AS")])
        ax.plot(t[:, 0], t[:, 1], color="0.55", lw=0.8, ls=":", label="true corners")
        ax.legend(loc="lower right", fontsize=6.5, frameon=False)
    offsets = {"AS": (-14, 4), "AI": (-14, -10), "PS": (4, 4), "PI": (4, -10)}
    for name, p in c.items():
        ax.plot(*p, "ko", ms=4)
        ax.annotate(
            name, p, xytext=offsets[name], textcoords="offset points", fontsize=8, weight="bold"
        )
    a_mid, p_mid = (c["AS"] + c["AI"]) / 2, (c["PS"] + c["PI"]) / 2
    ax.annotate("", p_mid, a_mid, arrowprops={"arrowstyle": "->", "color": "C3", "lw": 1})
    m = disc.measures()
    ax.text(
        0.02,
        0.02,
        f"heights {m['height_anterior_mm']:.1f} / {m['height_middle_mm']:.1f} / "
        f"{m['height_posterior_mm']:.1f} mm (ant/mid/post)\nAP length {m['ap_length_mm']:.1f} mm,"
        f" tilt {m['tilt_deg']:.0f} deg, wedge {m['wedge_deg']:.0f} deg",
        transform=ax.transAxes,
        fontsize=7,
    )
    ax.set_aspect("equal")
    ax.set_xlabel("posterior (mm)  ->")
    ax.set_ylabel("superior (mm)")
    ax.set_title(f"{disc.level} ({disc.method}): bands between the endplate lines", fontsize=9)
    pad = 6
    pts = np.array(list(c.values()))
    ax.set_xlim(pts[:, 0].min() - pad, pts[:, 0].max() + pad)
    ax.set_ylim(pts[:, 1].min() - pad - 4, pts[:, 1].max() + pad)


def draw_voxels(ax, t2map: T2Map, rois: DiscROIs, level: str) -> None:
    """Right panel: the T2 map with the voxels of each ROI (voxel centres, margins)."""
    disc = rois.disc(level)
    k = int(disc.slice or 0)
    grid = grid_of(t2map)
    centre = disc.centre_ras_mm
    half = 0.5 * disc.measures()["ap_length_mm"] + 8
    img, view = sagittal_crop(
        t2map.t2_ms[:, :, k],
        grid,
        centre,
        half_width_mm=half,
        half_height_mm=0.6 * half,
        step_mm=0.25,
    )
    lab = np.where(rois.labels[:, :, k] // 10 == level_index(level), rois.labels[:, :, k] % 10, 0)
    lab_crop, _ = sagittal_crop(
        lab, grid, centre, half_width_mm=half, half_height_mm=0.6 * half, step_mm=0.25, order=0
    )
    im = ax.imshow(img, cmap="gray", vmin=0, vmax=160, extent=view["extent"])
    rgba = np.zeros((*lab_crop.shape, 4))
    for r in range(1, 6):
        colour = np.array([int(COLOURS[r - 1][i : i + 2], 16) / 255 for i in (1, 3, 5)])
        rgba[lab_crop == r] = [*colour, 0.3]
    ax.imshow(rgba, extent=view["extent"])
    ax.contour(
        np.nan_to_num(lab_crop),
        levels=np.arange(0.5, 5.6, 1.0),
        colors=list(COLOURS),
        linewidths=1.0,
        extent=view["extent"],
        origin="upper",
    )
    corners = view["to_display"](disc.corner_array())
    quad = corners[[0, 1, 3, 2, 0]]  # AS PS PI AI
    ax.plot(quad[:, 0], quad[:, 1], color="yellow", lw=0.8)
    ax.set_title(f"{level}: voxels whose centre lies in a band, 1-voxel margins", fontsize=9)
    ax.set_xlabel("posterior (mm)  ->")
    ax.figure.colorbar(im, ax=ax, shrink=0.7, label="T2 (ms)")


def draw_overview(ax, series, rois: DiscROIs) -> None:
    """Left panel: the slice of the discs (first echo), each disc's level and ROIs."""
    k = int(rois.discs[len(rois.discs) // 2].slice or 0)
    grid = grid_of(series)
    centre = np.mean([d.centre_ras_mm for d in rois.discs], axis=0)
    img, view = sagittal_crop(
        series.data[:, :, k, 0], grid, centre, half_width_mm=60, half_height_mm=105, step_mm=0.5
    )
    lab, _ = sagittal_crop(
        rois.labels[:, :, k] % 10, grid, centre, half_width_mm=60, half_height_mm=105, order=0
    )
    ax.imshow(img, cmap="gray", extent=view["extent"])
    rgba = np.zeros((*lab.shape, 4))
    for r in range(1, 6):
        colour = np.array([int(COLOURS[r - 1][i : i + 2], 16) / 255 for i in (1, 3, 5)])
        rgba[lab == r] = [*colour, 0.6]
    ax.imshow(rgba, extent=view["extent"])
    for disc in rois.discs:
        p = view["to_display"](disc.centre_ras_mm[None])[0]
        ax.text(p[0] - 32, p[1], disc.level, fontsize=7, color="yellow", va="center")
    ax.set_title("Found automatically (first echo, mid-sagittal slice)", fontsize=9)
    ax.set_xlabel("posterior (mm)  ->")
    ax.set_ylabel("superior (mm)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exam", default="S01/baseline", help="subject/visit of sample_data/")
    parser.add_argument("--t2map", help="a fitted map folder (t2.nii.gz)")
    parser.add_argument("--rois", help="the folder 'discT2 rois' wrote")
    parser.add_argument("--level", default="L4-L5")
    parser.add_argument("-o", "--out", default=str(Path(__file__).with_name("roi_geometry.png")))
    args = parser.parse_args(argv)
    logging.getLogger("discT2").setLevel(logging.ERROR)
    if args.t2map and args.rois:
        t2map, rois = T2Map.load(args.t2map), DiscROIs.load(args.rois)
        fig = Figure(figsize=(11, 4.2), layout="constrained")
        middle, right = fig.subplots(1, 2, width_ratios=[1, 1.15])
        draw_geometry(middle, rois.disc(args.level))
        draw_voxels(right, t2map, rois, args.level)
    else:
        folder = SAMPLE / args.exam
        series = load_series(folder / "dicom")
        t2map = fit_t2(series, method="epg")
        found = place_rois(t2map, detect_discs(series))
        truth = json.loads((folder / "truth" / "discs.json").read_text())
        true_corners = {d["level"]: d["corners_ras_mm"] for d in truth["discs"]}
        fig = Figure(figsize=(15, 5.6), layout="constrained")
        left, middle, right = fig.subplots(1, 3, width_ratios=[0.75, 1, 1.15])
        draw_overview(left, series, found)
        draw_geometry(middle, found.disc(args.level), true_corners.get(args.level))
        draw_voxels(right, t2map, found, args.level)
        fig.suptitle(
            f"sample_data/{args.exam}: {series.shape[0]} x {series.shape[1]} pixels of "
            f"{series.voxel_size_mm[0]:.3g} mm, {series.shape[2]} slices, {series.n_echoes} "
            "echoes (synthetic phantom)",
            fontsize=9,
        )
    fig.savefig(args.out, dpi=130)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
