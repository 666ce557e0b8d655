"""Accuracy of discT2's T2 fitting: the tables of ``docs/methods/fitting.md``.

1. Rician noise: median bias and spread (SD / Cramer-Rao bound) per method, T2 20-300 ms, SNR
   100, 30 and 10 at the first echo, 12 echoes 10-120 ms.
2. Stimulated echoes: EPG-simulated CPMG (refocusing 150-180 deg x B1 0.8-1.0), bias of ``epg``
   and ``nlls``.
3. Real phantom plates (Siemens, Philips; needs ``../shared/realdata`` or DISCT2_REALDATA):
   per-sphere error against the nominal T2 for each method. The series are read with the
   tests' pydicom helper (``tests/fit/conftest.py``).

Run: ``PYTHONPATH=src python benchmarks/accuracy_fit.py [--part 1 2 3]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import warnings
from pathlib import Path

import numpy as np

from discT2 import FIT_METHODS, T2Model, cpmg_signal

ROOT = Path(__file__).resolve().parents[1]
TE = np.arange(1, 13) * 10.0


def _noisy(rng, clean, sigma, n):
    shape = (n, clean.size)
    return np.abs(clean + rng.normal(0, sigma, shape) + 1j * rng.normal(0, sigma, shape))


def _crlb(t2, s0, sigma, te, offset=False):
    e = np.exp(-te / t2)
    cols = [e, s0 * te / t2**2 * e] + ([np.ones_like(te)] if offset else [])
    jac = np.stack(cols, axis=1)
    return np.sqrt(sigma**2 * np.linalg.inv(jac.T @ jac)[1, 1])


def _fit(te, method, data, **opts):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return T2Model(te, method, **opts).fit(data)


def rician_table(n=4000, seed=42):
    rng = np.random.default_rng(seed)
    print("| SNR | T2 ms | CRLB % | " + " | ".join(FIT_METHODS) + " |")
    print("|---|---|---|" + "---|" * len(FIT_METHODS))
    for snr in (100, 30, 10):
        for t2 in (20.0, 40.0, 80.0, 150.0, 300.0):
            s0 = 1000.0 * np.exp(TE[0] / t2)
            sigma = 1000.0 / snr
            data = _noisy(rng, s0 * np.exp(-TE / t2), sigma, n)
            cells = []
            for method in FIT_METHODS:
                opts = {"sigma": sigma} if method == "ncexp" else {}
                if method == "epg":
                    opts["refocusing_deg"] = 180.0
                v = _fit(TE, method, data, **opts).t2_ms.ravel()
                bound = _crlb(t2, s0, sigma, TE, offset=method == "offset")
                bias = 100 * (np.nanmedian(v) / t2 - 1)
                robust_sd = np.subtract(*np.nanpercentile(v, [75, 25])) / 1.349
                cells.append(f"{bias:+.1f} % / {robust_sd / bound:.2f}")
            crlb_pct = 100 * _crlb(t2, s0, sigma, TE) / t2
            print(f"| {snr} | {t2:g} | {crlb_pct:.1f} | " + " | ".join(cells) + " |")


def epg_table(n=2000, seed=7):
    rng = np.random.default_rng(seed)
    print("| refocusing | B1 | SNR | " + " | ".join(f"T2 {t:g}" for t in (20, 50, 100, 200, 300)))
    print("|---|---|---|---|---|---|---|---|")
    for alpha in (150.0, 160.0, 170.0, 180.0):
        for b1 in (0.8, 0.9, 1.0):
            for snr in (50, 100):
                cells = []
                for t2 in (20.0, 50.0, 100.0, 200.0, 300.0):
                    clean = 1000.0 * cpmg_signal(t2, 10.0, 12, b1=b1, refocusing_deg=alpha)
                    data = _noisy(rng, clean, clean[0] / snr, n)
                    e = np.median(_fit(TE, "epg", data, refocusing_deg=alpha).t2_ms) / t2 - 1
                    m = np.median(_fit(TE, "nlls", data).t2_ms) / t2 - 1
                    cells.append(f"{100 * e:+.1f} / {100 * m:+.1f}")
                print(f"| {alpha:g} | {b1:g} | {snr} | " + " | ".join(cells) + " |")


NOMINAL = np.array(
    [
        939.4,
        594.3,
        416.5,
        267.0,
        184.9,
        140.6,
        91.76,
        64.84,
        45.28,
        30.62,
        19.76,
        15.99,
        10.47,
        8.15,
    ]
)


def _reader():
    spec = importlib.util.spec_from_file_location("fit_conftest", ROOT / "tests/fit/conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.read_dicom_series


def _spheres(t2_ms):
    from scipy import ndimage

    t2 = t2_ms[:, :, 0]
    labels, n = ndimage.label(ndimage.binary_opening(np.isfinite(t2) & (t2 < 1500.0)))
    regions = []
    for i in range(1, n + 1):
        region = labels == i
        rows, cols = np.nonzero(region)
        extent = max(np.ptp(rows), np.ptp(cols)) + 1
        if 20 <= region.sum() <= 400 and region.sum() / (np.pi * (extent / 2) ** 2) > 0.6:
            core = ndimage.binary_erosion(region, iterations=2)
            if core.sum() >= 5:
                regions.append(core)
    return regions


def _per_sphere(t2_ms, regions):
    from scipy.optimize import linear_sum_assignment

    med = np.array([np.nanmedian(t2_ms[:, :, 0][r]) for r in regions])
    rows, cols = linear_sum_assignment(np.log(med[:, None] / NOMINAL[None, :]) ** 2)
    out = np.full(NOMINAL.size, np.nan)
    out[cols] = med[rows]
    return out


def phantom_table():
    realdata = Path(os.environ.get("DISCT2_REALDATA", ROOT.parent / "shared" / "realdata"))
    read = _reader()
    variants = [
        ("loglinear", "loglinear", {}),
        ("nlls", "nlls", {}),
        ("nlls skip-1", "nlls", {"skip_first_echo": True}),
        ("offset skip-1", "offset", {"skip_first_echo": True}),
        ("ncexp", "ncexp", {}),
        ("epg", "epg", {}),
        ("epg sinc", "epg", {"slice_profile": "sinc"}),
    ]
    phantoms = (
        ("Siemens Aera 1.5 T, 32 echoes 12.7-406 ms", "phantom_siemens_aera_1p5T_32echo"),
        ("Philips Ingenia 1.5 T, 32 echoes 5-160 ms", "phantom_philips_ingenia_1p5T_32echo"),
    )
    for vendor, folder in phantoms:
        plate = realdata / folder
        series = read(plate / "plate4_T2spheres" if "philips" in folder else plate)
        regions = _spheres(_fit(series.echo_times_ms, "nlls", series).t2_ms)
        print(f"\n{vendor}: {len(regions)} spheres; error % against nominal\n")
        print("| nominal ms | " + " | ".join(v[0] for v in variants) + " |")
        print("|---|" + "---|" * len(variants))
        results = []
        for _, method, opts in variants:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fitted = T2Model(series.echo_times_ms, method, **opts).fit(series, mask="auto")
            results.append(_per_sphere(fitted.t2_ms, regions) / NOMINAL - 1)
        for k, nominal in enumerate(NOMINAL):
            print(f"| {nominal:g} | " + " | ".join(f"{100 * r[k]:+.1f}" for r in results) + " |")
        resolved = (NOMINAL >= 30) & (NOMINAL <= 600)
        print(
            "| median abs, 30-600 ms | "
            + " | ".join(f"{100 * np.nanmedian(np.abs(r[resolved])):.1f}" for r in results)
            + " |"
        )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", type=int, nargs="+", default=[1, 2, 3], choices=[1, 2, 3])
    args = parser.parse_args(argv)
    if 1 in args.part:
        print("\n## Rician noise: median bias / robust SD over the Cramer-Rao bound\n")
        rician_table()
    if 2 in args.part:
        print("\n## EPG-simulated CPMG: median bias % of epg / nlls\n")
        epg_table()
    if 3 in args.part:
        print("\n## Phantom T2 plates")
        phantom_table()


if __name__ == "__main__":
    main()
