"""Rician expectation model: its special functions and its bias at low SNR."""

import numpy as np
import pytest
from scipy import special

from discT2 import InputError, MultiEchoSeries, T2Model
from discT2.fit import rician_mean
from discT2.fit.ncexp import bessel_i0e_i1e


def test_scaled_bessel_functions_match_scipy():
    x = np.concatenate([np.linspace(0, 60, 6001), np.logspace(-8, 9, 400)])
    got = np.array([bessel_i0e_i1e(v) for v in x])
    np.testing.assert_allclose(got[:, 0], special.i0e(x), rtol=1e-13)
    np.testing.assert_allclose(got[:, 1], special.i1e(x), rtol=1e-13, atol=1e-300)


def test_rician_mean_against_monte_carlo_and_limits(rng):
    for nu in (0.0, 0.7, 2.0, 5.0):
        m = np.abs(nu + rng.normal(size=400_000) + 1j * rng.normal(size=400_000))
        assert rician_mean(nu, 1.0)[0] == pytest.approx(m.mean(), abs=4e-3)
    assert rician_mean(0.0, 2.0)[0] == pytest.approx(2.0 * np.sqrt(np.pi / 2))
    # large-SNR expansion nu + sigma^2 / (2 nu) + sigma^4 / (8 nu^3)
    expected = 300.0 + 1.0 / 600.0 + 1.0 / (8 * 300.0**3)
    assert rician_mean(300.0, 1.0)[0] == pytest.approx(expected, rel=1e-13)


@pytest.mark.parametrize("nu", [0.05, 0.8, 3.0, 40.0])
def test_rician_mean_derivative(nu):
    h = 1e-6
    numeric = (rician_mean(nu + h, 1.3)[0] - rician_mean(nu - h, 1.3)[0]) / (2 * h)
    assert rician_mean(nu, 1.3)[1] == pytest.approx(numeric, rel=1e-6)


@pytest.mark.parametrize("t2", [20.0, 40.0])
def test_removes_the_noise_floor_bias_at_snr_10(t2, rng, noisy, te_ms):
    sigma = 100.0  # SNR 10 at the first echo
    signal = 1000.0 * np.exp(-(te_ms - te_ms[0]) / t2)
    data = noisy(rng, signal, sigma, 2000)
    bias_nlls = np.median(T2Model(te_ms, "nlls").fit(data).t2_ms) / t2 - 1
    nc = T2Model(te_ms, "ncexp", sigma=sigma).fit(data)
    bias_nc = np.median(nc.t2_ms) / t2 - 1
    assert bias_nlls > 0.1
    assert abs(bias_nc) < 0.03
    assert abs(bias_nc) < 0.2 * bias_nlls
    # its uncertainty is calibrated too (sigma is part of the model)
    assert 0.85 < np.median(nc.t2_sd_ms) / np.std(nc.t2_ms) < 1.3


def test_reaches_the_bound_at_high_snr(rng, noisy, crlb, te_ms):
    s0 = 1000.0 * np.exp(te_ms[0] / 80.0)
    data = noisy(rng, s0 * np.exp(-te_ms / 80.0), 10.0, 2000)
    fitted = T2Model(te_ms, "ncexp", sigma=10.0).fit(data).t2_ms
    assert 0.9 < np.std(fitted) / crlb(80.0, s0, 10.0, te_ms) < 1.15


def test_sigma_from_the_background_when_not_given(rng, te_ms):
    sigma = 12.0
    truth = np.zeros((40, 40, 1, 12))
    truth[10:30, 10:30] = 1500.0 * np.exp(-te_ms / 60.0)
    noise = rng.normal(0, sigma, truth.shape) + 1j * rng.normal(0, sigma, truth.shape)
    series = MultiEchoSeries(np.abs(truth + noise), te_ms, np.eye(4))
    fitted = T2Model(te_ms, "ncexp").fit(series, mask="auto")
    assert fitted.provenance["sigma_source"] == "background"
    assert fitted.provenance["sigma_used"] == pytest.approx(sigma, rel=0.05)
    assert np.nanmedian(fitted.t2_ms) == pytest.approx(60.0, rel=0.01)


def test_without_background_sigma_must_be_given(te_ms):
    with pytest.raises(InputError, match="ncexp' needs the noise level"):
        T2Model(te_ms, "ncexp").fit(1000.0 * np.exp(-te_ms / 50.0))
