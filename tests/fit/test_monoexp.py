"""nlls (variable projection) against the Cramer-Rao bound under Rician noise."""

import numpy as np
import pytest

from discT2 import T2Model

N = 2000


def _realisations(rng, noisy, te_ms, t2, snr):
    """N noisy trains with SNR ``snr`` at the first echo; returns (data, sigma, s0)."""
    s0 = 1000.0 * np.exp(te_ms[0] / t2)
    sigma = 1000.0 / snr
    return noisy(rng, s0 * np.exp(-te_ms / t2), sigma, N), sigma, s0


@pytest.mark.parametrize("t2", [20.0, 80.0, 300.0])
def test_spread_reaches_the_cramer_rao_bound_at_snr_100(t2, rng, noisy, crlb, te_ms):
    data, sigma, s0 = _realisations(rng, noisy, te_ms, t2, 100)
    fitted = T2Model(te_ms, "nlls").fit(data).t2_ms.ravel()
    bound = crlb(t2, s0, sigma, te_ms)
    # maximum likelihood reaches the bound; Rician noise at SNR >= 100 is Gaussian to 1 %
    assert 0.9 < np.std(fitted) / bound < 1.15
    assert abs(np.median(fitted) - t2) < 0.5 * bound


@pytest.mark.parametrize(("t2", "snr"), [(40.0, 100), (100.0, 30), (200.0, 30)])
def test_t2_sd_matches_the_observed_spread(t2, snr, rng, noisy, te_ms):
    data, _, _ = _realisations(rng, noisy, te_ms, t2, snr)
    fitted = T2Model(te_ms, "nlls").fit(data)
    ratio = np.median(fitted.t2_sd_ms) / np.std(fitted.t2_ms)
    assert 0.85 < ratio < 1.15


def test_known_sigma_sets_the_uncertainty(rng, noisy, crlb, te_ms):
    data, sigma, s0 = _realisations(rng, noisy, te_ms, 80.0, 100)
    fitted = T2Model(te_ms, "nlls", sigma=sigma).fit(data)
    # with sigma given, t2_sd is the bound evaluated at each voxel's own estimate
    assert np.median(fitted.t2_sd_ms) == pytest.approx(crlb(80.0, s0, sigma, te_ms), rel=0.05)
    assert fitted.provenance["sigma_source"] == "given"


def test_rician_floor_stretches_short_t2_at_low_snr(rng, noisy, te_ms):
    # the physics ncexp corrects: a magnitude floor makes the tail decay too slowly
    data, _, _ = _realisations(rng, noisy, te_ms, 20.0, 10)
    fitted = T2Model(te_ms, "nlls").fit(data).t2_ms
    assert np.median(fitted) > 1.15 * 20.0


def test_non_uniform_echo_times(rng):
    te = np.array([8.0, 15.0, 30.0, 55.0, 90.0, 140.0])
    t2 = rng.uniform(10, 500, 200)
    data = 500.0 * np.exp(-te / t2[:, None])
    fitted = T2Model(te, "nlls").fit(data)
    np.testing.assert_allclose(fitted.t2_ms.ravel(), t2, rtol=1e-5)
