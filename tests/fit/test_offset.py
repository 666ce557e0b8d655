"""Mono-exponential plus constant."""

import numpy as np
import pytest

from discT2 import T2Model


def test_recovers_t2_and_offset_without_noise(rng, te_ms):
    t2 = rng.uniform(15, 300, 300)
    offset = rng.uniform(-50, 200, 300)
    data = 1000.0 * np.exp(-te_ms / t2[:, None]) + offset[:, None]
    fitted = T2Model(te_ms, "offset").fit(data)
    np.testing.assert_allclose(fitted.t2_ms.ravel(), t2, rtol=1e-3)
    np.testing.assert_allclose(fitted.offset.ravel(), offset, atol=0.5)
    np.testing.assert_allclose(fitted.s0.ravel(), 1000.0, rtol=1e-3)


def test_absorbs_a_constant_that_biases_nlls(te_ms):
    data = 1000.0 * np.exp(-te_ms / 40.0) + 80.0
    assert T2Model(te_ms, "nlls").fit(data).t2_ms.ravel()[0] > 50.0
    assert T2Model(te_ms, "offset").fit(data).t2_ms.ravel()[0] == pytest.approx(40.0, rel=1e-4)


@pytest.mark.parametrize("t2", [20.0, 60.0])
def test_spread_matches_the_three_parameter_bound(t2, rng, noisy, crlb, te_ms):
    s0 = 1000.0 * np.exp(te_ms[0] / t2)
    data = noisy(rng, s0 * np.exp(-te_ms / t2), 10.0, 2000)
    fitted = T2Model(te_ms, "offset").fit(data)
    bound = crlb(t2, s0, 10.0, te_ms, offset=True)
    spread = np.std(fitted.t2_ms)
    assert 0.85 < spread / bound < 1.2
    assert 0.8 < np.median(fitted.t2_sd_ms) / spread < 1.2
