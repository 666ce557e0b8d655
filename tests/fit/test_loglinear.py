"""Weighted log-linear fit: exact on clean data, near the bound at high SNR, biased at low SNR."""

import numpy as np
import pytest

from discT2 import T2Model


def test_zero_signal_echoes_get_no_weight(te_ms):
    data = 800.0 * np.exp(-te_ms / 25.0)
    data[8:] = 0.0  # a scanner that clips the noise floor to zero
    fitted = T2Model(te_ms, "loglinear").fit(data)
    assert fitted.t2_ms.ravel()[0] == pytest.approx(25.0, rel=1e-6)


def test_near_the_bound_at_high_snr_but_more_biased_than_nlls_at_low(rng, noisy, crlb, te_ms):
    t2 = 80.0
    s0 = 1000.0 * np.exp(te_ms[0] / t2)
    high = noisy(rng, s0 * np.exp(-te_ms / t2), 10.0, 2000)
    fitted = T2Model(te_ms, "loglinear").fit(high).t2_ms
    bound = crlb(t2, s0, 10.0, te_ms)
    assert np.std(fitted) / bound < 1.15  # weights y**2 make it nearly efficient

    low = noisy(rng, 1000.0 * np.exp(-(te_ms - te_ms[0]) / 20.0), 1000.0 / 30, 2000)
    bias_ll = np.median(T2Model(te_ms, "loglinear").fit(low).t2_ms) / 20.0 - 1
    bias_nlls = np.median(T2Model(te_ms, "nlls").fit(low).t2_ms) / 20.0 - 1
    assert bias_ll > 2 * bias_nlls > 0


def test_clipped_to_the_bounds(te_ms):
    rising = 100.0 * np.exp(te_ms / 500.0)
    fitted = T2Model(te_ms, "loglinear", t2_bounds_ms=(1.0, 3000.0)).fit(rising)
    assert fitted.t2_ms.ravel()[0] == pytest.approx(3000.0)
    assert fitted.flags.ravel()[0] & 2  # AT_BOUND
