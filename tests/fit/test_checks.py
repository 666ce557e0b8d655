"""The input checks every fitting method shares (``discT2.fit.checks``)."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from discT2 import MultiEchoSeries
from discT2.errors import InputError
from discT2.fit import fit_t2
from discT2.fit.checks import check_series, missing_echoes, train_spacing

TE = np.array([10.0, 20.0, 30.0, 40.0, 50.0, 60.0])


def _series(data, te=TE, **meta):
    return MultiEchoSeries(np.asarray(data, np.float32), te, np.eye(4), {"source": "s", **meta})


def _decay(shape=(10, 10, 1), te=TE, t2=70.0):
    return 800.0 * np.exp(-np.asarray(te) / t2) * np.ones((*shape, 1))


def test_a_few_negative_voxels_are_counted_and_many_refused(caplog):
    data = _decay()
    data[0, 0, 0, 2] = -5.0  # 1 value of 600: below the 1 % limit
    with caplog.at_level(logging.WARNING, logger="discT2"):
        notes = check_series(_series(data))
    assert notes == ["s: 1 voxels hold negative intensities (1 values)"]
    assert notes[0] in caplog.text
    data[:2, :, 0, 2] = -5.0  # 20 values of 600
    with pytest.raises(InputError, match=r"s: 20 of 600 intensities \(3 %\) are negative"):
        check_series(_series(data))


@pytest.mark.parametrize("method", ["loglinear", "nlls", "offset", "epg"])
def test_every_method_refuses_the_same_unusable_series(method):
    with pytest.raises(InputError, match="every intensity is zero"):
        fit_t2(_series(np.zeros((4, 4, 1, 6))), method=method)
    with pytest.raises(InputError, match="no finite intensity"):
        fit_t2(_series(np.full((4, 4, 1, 6), np.nan)), method=method)


@pytest.mark.parametrize("method", ["loglinear", "nlls", "epg"])
def test_every_method_fits_a_train_with_a_missing_echo_and_says_so(method):
    te = np.array([10.0, 20.0, 30.0, 50.0, 60.0, 70.0])
    result = fit_t2(_series(_decay(te=te), te=te), method=method, refocusing_deg=180.0)
    assert np.allclose(result.t2_ms, 70.0, rtol=1e-3)
    assert result.provenance["input_warnings"] == [
        "s: 1 echo missing from the echo train: echo 4 (40 ms); the fit uses the echoes present"
    ]


def test_train_spacing_and_missing_echoes():
    assert train_spacing(TE) == 10.0
    assert train_spacing(np.array([10.0, 20.0, 40.0])) == 10.0
    assert train_spacing(np.array([8.0, 15.0, 30.0])) is None
    assert missing_echoes(np.array([10.0, 20.0, 40.0, 70.0]), {}) == [3, 5, 6]
    # echoes chosen on purpose (select_echoes records them) are not "missing"
    assert missing_echoes(np.array([20.0, 40.0]), {"echo_indices_from_source": [1, 3]}) == []
    assert missing_echoes(TE, {}) == []
