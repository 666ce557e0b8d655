"""Speed of discT2's T2 fitting: voxels per second per method, against a scipy loop, and memory.

``default`` is the default fit of a 2-D series (``epg`` with the sinc slice profile and the
smooth B1 field: a voxel-wise fit on a sub-grid, then T2 at fixed B1 in every voxel); the other
rows fit the plain array (``epg``: B1 free per voxel, uniform slice).

A realistic volume (default 256 x 256 x 15 voxels, 12 echoes 10-120 ms) is simulated with the
CPMG extended phase graph (refocusing 180 degrees x B1 0.8-1.0, T1 1000 ms), tissue T2 from
20 to 300 ms plus fluid, 15 % background, Rician noise (SNR 50 at the first echo in tissue).
Every voxel is fitted (no mask), so voxels/s counts all of them. The baseline is a per-voxel
``scipy.optimize.curve_fit`` loop of the mono-exponential on a random subsample of the same
data, run in the same process. Memory: the peak of traced allocations during a fit, minus the
output maps, for two volume sizes; it stays at the working set of the chunks.

Run: ``PYTHONPATH=src python benchmarks/bench_fit.py [--quick] [--workers N]``.
Figures depend on the machine and on what else runs on it: ``cpu s`` (all threads) next to the
wall time shows how much of the machine the fit actually got.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
import tracemalloc
import warnings

import numpy as np
from scipy.optimize import curve_fit

import discT2
from discT2 import MultiEchoSeries, T2Model, cpmg_signal

METHODS = ("loglinear", "nlls", "offset", "ncexp", "epg", "epg+sinc", "default")


def simulate(shape, n_echoes, seed=0):
    """EPG-simulated multi-echo volume; returns (data float32 (..., E), te_ms, sigma)."""
    rng = np.random.default_rng(seed)
    esp = 10.0
    n = int(np.prod(shape))
    t2 = np.exp(rng.uniform(np.log(20.0), np.log(300.0), n))
    t2[rng.random(n) < 0.05] = 1500.0  # fluid
    b1 = rng.uniform(0.8, 1.0, n)
    # a coarse table keeps the simulation itself quick
    t2_grid = np.exp(np.linspace(np.log(15.0), np.log(2000.0), 400))
    b1_grid = np.linspace(0.8, 1.0, 21)
    table = cpmg_signal(t2_grid[:, None], esp, n_echoes, b1=b1_grid[None, :], refocusing_deg=180.0)
    it = np.clip(np.searchsorted(t2_grid, t2), 0, t2_grid.size - 1)
    ib = np.clip(np.rint((b1 - 0.8) / 0.01).astype(int), 0, b1_grid.size - 1)
    s0 = 1000.0
    sigma = s0 / 50.0
    clean = s0 * table[it, ib].astype(np.float32)
    clean[rng.random(n) < 0.15] = 0.0  # background
    noise = rng.normal(0, sigma, clean.shape) + 1j * rng.normal(0, sigma, clean.shape)
    data = np.abs(clean + noise).astype(np.float32).reshape(*shape, n_echoes)
    return data, esp * np.arange(1, n_echoes + 1), sigma


class _AsSeries:
    """The default fit as ``discT2 fit`` runs it: a 2-D series (slice profile, smooth B1 field)."""

    def __init__(self, model):
        self.model = model

    def fit(self, data):
        affine = np.diag([1.2, 1.2, 4.0, 1.0])
        series = MultiEchoSeries(data, self.model.echo_times_ms, affine, {"acquisition_type": "2D"})
        return self.model.fit(series)


def make_model(method, te, sigma, workers):
    opts = {"workers": workers}
    if method == "default":
        return _AsSeries(T2Model(te, workers=workers, refocusing_deg=180.0))
    if method == "ncexp":
        opts["sigma"] = sigma
    if method.startswith("epg"):
        opts["refocusing_deg"] = 180.0
        if method == "epg+sinc":
            opts["slice_profile"] = "sinc"
        method = "epg"
    return T2Model(te, method, **opts)


def time_fit(model, data, repeats):
    """Best wall time and the CPU time of that run (all threads) over ``repeats`` fits."""
    best = (np.inf, np.inf)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(repeats):
            start, cpu = time.perf_counter(), time.process_time()
            model.fit(data)
            wall = time.perf_counter() - start
            if wall < best[0]:
                best = (wall, time.process_time() - cpu)
    return best


def scipy_loop(data, te, n, seed=1):
    """Voxels/s of a per-voxel curve_fit loop (log-linear start, as a careful script would)."""
    rng = np.random.default_rng(seed)
    flat = data.reshape(-1, data.shape[-1]).astype(np.float64)
    rows = flat[rng.choice(flat.shape[0], n, replace=False)]

    def mono(t, s0, t2):
        return s0 * np.exp(-t / t2)

    start = time.perf_counter()
    for y in rows:
        pos = y > 0
        try:
            slope, icpt = np.polyfit(te[pos], np.log(y[pos]), 1)
            p0 = (np.exp(icpt), -1.0 / slope if slope < 0 else 1000.0)
            curve_fit(mono, te, y, p0=p0, bounds=([0, 1], [np.inf, 5000]))
        except (RuntimeError, ValueError, TypeError):
            pass
    return n / (time.perf_counter() - start)


def traced_peak_mb(model, data):
    """Peak traced allocation during a fit, minus the output maps (MB)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tracemalloc.start()
        fitted = model.fit(data)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    outputs = sum(
        a.nbytes
        for a in (fitted.t2_ms, fitted.s0, fitted.t2_sd_ms, fitted.r2, fitted.rmse, fitted.flags)
    )
    extra = fitted.b1 if fitted.b1 is not None else fitted.offset
    outputs += extra.nbytes if extra is not None else 0
    # fit() keeps flat and reshaped outputs as views, so they count once
    return (peak - outputs) / 2**20


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs=3, default=(256, 256, 15))
    parser.add_argument("--echoes", type=int, default=12)
    parser.add_argument("--workers", type=int, default=None, help="default: all cores")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--scipy-voxels", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="64 x 64 x 15, one repeat")
    args = parser.parse_args(argv)
    shape = (64, 64, 15) if args.quick else tuple(args.shape)
    repeats = 1 if args.quick else args.repeats
    workers = args.workers or len(os.sched_getaffinity(0))
    data, te, sigma = simulate(shape, args.echoes)
    n_vox = int(np.prod(shape))
    print(f"discT2 {discT2.__version__}: {shape} x {args.echoes} echoes = {n_vox:,} voxels, "
          f"{workers} worker(s), {os.cpu_count()} CPUs visible")  # fmt: skip
    baseline = scipy_loop(data, te, args.scipy_voxels)
    print(f"scipy curve_fit loop (nlls, {args.scipy_voxels} voxels): {baseline:,.0f} voxels/s")
    print(
        f"{'method':10s} {'voxels/s':>12s} {'time s':>8s} {'cpu s':>7s} {'x scipy':>9s} "
        f"{'peak MB':>8s}"
    )
    small = data[: max(8, shape[0] // 4)]
    for method in args.methods:
        model = make_model(method, te, sigma, workers)
        start = time.perf_counter()
        time_fit(model, data[:2, :2, :1], 1)  # compile (cached on disk) and build dictionaries
        setup = time.perf_counter() - start
        seconds, cpu = time_fit(model, data, repeats)
        peak_full = traced_peak_mb(model, data)
        peak_small = traced_peak_mb(model, small)
        rate = n_vox / seconds
        print(f"{method:10s} {rate:12,.0f} {seconds:8.2f} {cpu:7.2f} {rate / baseline:9.0f} "
              f"{peak_full:8.1f}   (setup {setup:.1f} s; peak {peak_small:.1f} MB at "
              f"{small.shape[0] * shape[1] * shape[2]:,} voxels)")  # fmt: skip
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process peak RSS {rss:.0f} MB (input volume {data.nbytes / 2**20:.0f} MB)")


if __name__ == "__main__":
    main()
