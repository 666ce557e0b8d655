"""Accuracy of discT2's T2 fitting: the tables of ``docs/methods/fitting.md``.

1. Rician noise: median bias and spread (SD / Cramer-Rao bound) per method, T2 20-300 ms, SNR
   100, 30 and 10 at the first echo, 12 echoes 10-120 ms.
2. Stimulated echoes: EPG-simulated CPMG (refocusing 150-180 deg x B1 0.8-1.0), bias of ``epg``
   and ``nlls``.
3. The assumed T1: EPG-simulated disc-like trains (T1 1000 ms, 2-D slice profile or uniform,
   B1 0.8-1.0, 10 echoes of 12 ms) fitted assuming T1 = 300, 1000 and 2000 ms. The real
   phantom is in ``benchmarks/validation_phantom.py``.

Run: ``PYTHONPATH=src python benchmarks/accuracy_fit.py [--part 1 2 3]``.
"""

from __future__ import annotations

import argparse
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


def t1_table(n=1000, seed=11):
    """How far T2 moves when the assumed T1 differs from the tissue's: disc-like trains."""
    from discT2.epg import sinc_slice_profile

    rng = np.random.default_rng(seed)
    profile = sinc_slice_profile()
    te = np.arange(1, 11) * 12.0
    print("true T1 1000 ms; fitted T2 error % when the fit assumes T1 = 300 / 1000 / 2000 ms")
    print("| slice | B1 | " + " | ".join(f"T2 {t:g}" for t in (60, 100, 140)) + " |")
    print("|---|---|---|---|---|")
    for label, prof in (("uniform", None), ("2-D sinc", profile)):
        for b1 in (0.8, 0.9, 1.0):
            cells = []
            for t2 in (60.0, 100.0, 140.0):
                clean = 1000.0 * cpmg_signal(t2, 12.0, 10, b1=b1, t1_ms=1000.0, slice_profile=prof)
                data = _noisy(rng, clean, clean[0] / 100.0, n)
                errs = []
                for t1 in (300.0, 1000.0, 2000.0):
                    fitted = _fit(te, "epg", data, t1_ms=t1, slice_profile=prof, b1="voxel")
                    errs.append(100 * (np.median(fitted.t2_ms) / t2 - 1))
                cells.append(" / ".join(f"{e:+.1f}" for e in errs))
            print(f"| {label} | {b1:g} | " + " | ".join(cells) + " |")


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
        print("\n## Assumed T1 against the tissue's (SNR 100 at the first echo)\n")
        t1_table()


if __name__ == "__main__":
    main()
