"""Noise level from the background."""

import numpy as np
import pytest

from discT2 import InputError, MultiEchoSeries, estimate_noise_sigma
from discT2.fit.noise import rayleigh_sigma


def _phantom(rng, sigma, shape=(48, 48, 2, 6)):
    truth = np.zeros(shape)
    truth[12:36, 12:36] = 900.0 * np.exp(-np.arange(1, shape[3] + 1) * 10.0 / 80.0)
    noise = rng.normal(0, sigma, shape) + 1j * rng.normal(0, sigma, shape)
    return np.abs(truth + noise)


@pytest.mark.parametrize("sigma", [2.0, 25.0])
def test_sigma_from_the_background_of_a_series(rng, sigma):
    data = _phantom(rng, sigma)
    series = MultiEchoSeries(data, np.arange(1, 7) * 10.0, np.eye(4))
    assert estimate_noise_sigma(series) == pytest.approx(sigma, rel=0.03)
    assert estimate_noise_sigma(data) == pytest.approx(sigma, rel=0.03)


def test_explicit_background_and_ghost_robustness(rng):
    data = _phantom(rng, 5.0)
    background = np.zeros(data.shape[:3], bool)
    background[:8] = True
    data[:8:4, :2] += 200.0  # a few ghost voxels do not move the median
    assert estimate_noise_sigma(data, background) == pytest.approx(5.0, rel=0.05)
    assert rayleigh_sigma(np.abs(rng.normal(0, 3, 10**5) + 1j * rng.normal(0, 3, 10**5))) == (
        pytest.approx(3.0, rel=0.02)
    )


def test_refusals(rng):
    data = _phantom(rng, 5.0)
    with pytest.raises(InputError, match="background mask has shape"):
        estimate_noise_sigma(data, np.ones((3, 3), bool))
    zeroed = data.copy()
    zeroed[data < 100] = 0.0  # vendor-masked background
    with pytest.raises(InputError, match="Give the noise level explicitly"):
        estimate_noise_sigma(zeroed)
    with pytest.raises(InputError, match="single voxel"):
        estimate_noise_sigma(np.ones(6))


@pytest.mark.parametrize("sigma", [1.7, 3.0, 4.4])
def test_integer_data_are_not_quantised(rng, sigma):
    m = np.abs(rng.normal(0, sigma, 200_000) + 1j * rng.normal(0, sigma, 200_000))
    assert rayleigh_sigma(np.round(m)) == pytest.approx(sigma, rel=0.02)
