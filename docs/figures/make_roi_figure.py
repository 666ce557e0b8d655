"""Draw the disc ROI geometry figure of docs/methods/rois.md.

    python docs/figures/make_roi_figure.py [--t2map FIT_DIR --rois ROIS_DIR --level L4-L5]
                                           [-o docs/figures/roi_geometry.png]

Without arguments it uses a small synthetic sagittal slice made here (a tilted wedge-shaped disc
between two vertebral bodies, with anisotropic pixels). With ``--t2map`` and ``--rois`` (the
outputs of ``discT2 fit`` and ``discT2 rois``) the right panel shows that exam instead, e.g. the
sample data.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.path import Path as MplPath

from discT2 import DiscGeometry, DiscROIs, T2Map, place_rois
from discT2.roi import ROI_NAMES
from discT2.roi._grid import grid_of
from discT2.roi._view import sagittal_crop
from discT2.roi.levels import level_index

COLOURS = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e")


def synthetic_exam() -> tuple[T2Map, DiscGeometry]:
    """A sagittal T2 map (anisotropic pixels) with one tilted wedge disc, and its corners."""
    tilt = math.radians(-25.0)
    e = np.array([math.cos(tilt), math.sin(tilt)])  # anterior (y, z)
    n = np.array([-e[1], e[0]])  # superior
    length, h_ant, h_post = 40.0, 13.0, 8.0
    a_mid, p_mid = e * length / 2, -e * length / 2
    c = {
        "AS": a_mid + n * h_ant / 2,
        "AI": a_mid - n * h_ant / 2,
        "PS": p_mid + n * h_post / 2,
        "PI": p_mid - n * h_post / 2,
    }
    shape = (70, 100, 1)
    affine = np.array([[0, 0, 4.0, 0], [-0.9, 0, 0, 31.0], [0, -0.7, 0, 34.0], [0, 0, 0, 1]])
    ii, jj = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    yz = np.stack([affine[1, 0] * ii + affine[1, 3], affine[2, 1] * jj + affine[2, 3]], -1)
    pts = yz.reshape(-1, 2)
    t2 = np.full(len(pts), 35.0)
    above = np.array([c["AS"], c["PS"], c["PS"] + 25 * n, c["AS"] + 25 * n])
    below = np.array([c["AI"], c["PI"], c["PI"] - 25 * n, c["AI"] - 25 * n])
    for quad in (above, below):
        t2[MplPath(quad).contains_points(pts)] = 80.0
    disc = np.array([c["AS"], c["PS"], c["PI"], c["AI"]])
    t2[MplPath(disc).contains_points(pts)] = 60.0
    rel = pts - (a_mid + p_mid) / 2
    nucleus = (rel @ e / 13.0) ** 2 + (rel @ n / 4.0) ** 2 <= 1
    t2[nucleus] = 120.0
    t2 = t2.reshape(shape[:2])[..., None] + np.random.default_rng(0).normal(0, 3, shape)
    zeros = np.zeros(shape)
    t2map = T2Map(
        t2_ms=t2,
        s0=zeros + 1,
        t2_sd_ms=zeros + 3,
        r2=zeros + 1,
        rmse=zeros,
        flags=zeros,
        affine=affine,
    )
    corners = {k: np.array([0.0, *v]) for k, v in c.items()}
    return t2map, DiscGeometry("L4-L5", corners_ras_mm=corners, slice=0)


def draw_geometry(ax, disc: DiscGeometry) -> None:
    """Left panel: corners, endplate lines, band boundaries and measures, in patient mm."""
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
    ax.set_title("Bands between the endplate lines", fontsize=9)
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--t2map", help="a fitted map folder (t2.nii.gz)")
    parser.add_argument("--rois", help="the folder 'discT2 rois' wrote")
    parser.add_argument("--level", default="L4-L5")
    parser.add_argument("-o", "--out", default=str(Path(__file__).with_name("roi_geometry.png")))
    args = parser.parse_args(argv)
    if args.t2map and args.rois:
        t2map, rois = T2Map.load(args.t2map), DiscROIs.load(args.rois)
        disc = rois.disc(args.level)
    else:
        t2map, disc = synthetic_exam()
        rois = place_rois(t2map, [disc])
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=[1, 1.15])
    draw_geometry(left, disc)
    draw_voxels(right, t2map, rois, disc.level)
    fig.savefig(args.out, dpi=130)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
