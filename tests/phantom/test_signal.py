"""Signal-model pieces: B1 field, coil, slice profile, saturation, Rician noise."""

import numpy as np
import pytest

from discT2.errors import InputError
from discT2.phantom.signal import (
    add_rician_noise,
    b1_field,
    receive_field,
    saturation,
)


def test_b1_field_spans_the_range_exactly():
    rng = np.random.default_rng(1)
    points = rng.uniform(-1, 1, (5000, 3))
    b1 = b1_field(points, rng.normal(size=6), (0.8, 1.0))
    assert b1.min() == pytest.approx(0.8, abs=1e-12)
    assert b1.max() == pytest.approx(1.0, abs=1e-12)


def test_b1_field_refusals():
    with pytest.raises(InputError, match="6 coefficients"):
        b1_field(np.zeros((3, 3)), [1.0, 2.0])
    with pytest.raises(InputError, match="b1_range"):
        b1_field(np.zeros((3, 3)), np.ones(6), (1.0, 0.8))


def test_rician_noise_statistics():
    # pure noise is Rayleigh: mean sigma sqrt(pi/2), second moment 2 sigma^2
    sigma, n = 7.0, 400_000
    noisy = add_rician_noise(np.zeros(n), sigma, np.random.default_rng(2))
    se_mean = np.sqrt(2 - np.pi / 2) * sigma / np.sqrt(n)
    assert noisy.mean() == pytest.approx(sigma * np.sqrt(np.pi / 2), abs=5 * se_mean)
    assert np.mean(noisy**2) == pytest.approx(2 * sigma**2, rel=0.01)
    # a strong signal: nearly Gaussian around it, E[M^2] = A^2 + 2 sigma^2
    strong = add_rician_noise(np.full(n, 100.0), sigma, np.random.default_rng(3))
    assert np.mean(strong**2) == pytest.approx(100.0**2 + 2 * sigma**2, rel=2e-3)
    assert strong.std() == pytest.approx(sigma, rel=0.02)


def test_receive_field_falls_off_from_the_posterior_coil():
    y = np.array([-90.0, -80.0, -20.0, 40.0, 100.0])
    r = receive_field(y, coil_y_mm=-80.0, falloff_mm=150.0, floor=0.4)
    assert r[0] == r[1] == 1.0
    assert np.all(np.diff(r[1:]) < 0) and r[-1] > 0.4
    np.testing.assert_array_equal(receive_field(y, -80.0, None), np.ones(5))


def test_saturation():
    sat = saturation(np.array([300.0, 1200.0, 4000.0]), 2000.0, 120.0)
    np.testing.assert_allclose(sat, 1 - np.exp(-1880.0 / np.array([300.0, 1200.0, 4000.0])))
    assert saturation(np.array([0.0]), 2000.0, 120.0)[0] == 0.0
