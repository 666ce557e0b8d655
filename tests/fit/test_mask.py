"""Automatic foreground mask."""

import numpy as np

from discT2 import MultiEchoSeries, auto_mask


def _image(rng, snr, sigma=4.0):
    truth = np.zeros((64, 64, 3, 4))
    truth[16:48, 20:44] = snr * sigma
    noise = rng.normal(0, sigma, truth.shape) + 1j * rng.normal(0, sigma, truth.shape)
    return np.abs(truth + noise)


def test_keeps_the_object_and_drops_the_background(rng):
    data = _image(rng, snr=12)
    mask = auto_mask(MultiEchoSeries(data, [10, 20, 30, 40], np.eye(4)))
    inside = np.zeros(mask.shape, bool)
    inside[16:48, 20:44] = True
    assert mask[inside].mean() > 0.99
    assert mask[~inside].sum() == 0


def test_dim_tissue_above_five_sigma_is_kept(rng):
    data = _image(rng, snr=50)
    data[16:24, 20:44] = np.abs(7 * 4.0 + rng.normal(0, 4.0, (8, 24, 3, 4)))  # dim strip
    mask = auto_mask(data)
    assert mask[16:24, 20:44].mean() > 0.9


def test_specks_are_removed_and_zeroed_background_handled(rng):
    data = _image(rng, snr=20)
    data[2, 2, 1] = 1e4  # one hot voxel in the background
    assert not auto_mask(data)[2, 2, 1]
    zeroed = np.where(data > 40, data, 0.0)
    mask = auto_mask(zeroed)
    assert mask.sum() == np.count_nonzero(zeroed[..., 0] > 0) - 1  # minus the speck


def test_constant_and_tiny_inputs():
    assert auto_mask(np.ones((3, 3, 2))).all()
    assert auto_mask(np.zeros((1, 5))).sum() == 0
