"""T2Model / fit_t2: options, input shapes, masks, flags, provenance."""

import json

import numpy as np
import pytest

import discT2
from discT2 import (
    FIT_METHODS,
    EchoTimeError,
    FitFlag,
    FitWarning,
    GeometryError,
    InputError,
    MultiEchoSeries,
    ShapeMismatchError,
    T2Map,
    T2Model,
    fit_t2,
)
from discT2.io import save_map


def _decay(te, t2, s0=1000.0):
    return s0 * np.exp(-np.asarray(te) / np.asarray(t2, dtype=float)[..., None])


def _options(method, **kw):
    return {"sigma": 1.0, **kw} if method == "ncexp" else kw


@pytest.mark.parametrize("method", FIT_METHODS)
def test_noise_free_recovers_t2_to_a_thousandth(method, te_ms):
    t2 = np.array([8.0, 20.0, 45.0, 80.0, 130.0, 200.0, 300.0, 600.0])
    fitted = T2Model(te_ms, method, **_options(method)).fit(_decay(te_ms, t2))
    np.testing.assert_allclose(fitted.t2_ms.ravel(), t2, rtol=1e-3)
    np.testing.assert_allclose(fitted.s0.ravel(), 1000.0, rtol=1e-3)
    assert fitted.method == method
    assert not np.any(fitted.flags & (FitFlag.FAILED | FitFlag.AT_BOUND | FitFlag.POOR_FIT))


@pytest.mark.parametrize(
    ("shape", "expected"),
    [((), (1, 1, 1)), ((5,), (5, 1, 1)), ((4, 3), (4, 3, 1)), ((2, 3, 4), (2, 3, 4))],
)
def test_array_shapes_become_3d_maps(shape, expected, te_ms):
    t2 = np.full(shape, 70.0)
    fitted = T2Model(te_ms).fit(_decay(te_ms, t2))
    assert fitted.shape == expected
    np.testing.assert_allclose(fitted.t2_ms, 70.0, rtol=1e-4)
    np.testing.assert_array_equal(fitted.affine, np.eye(4))


def test_series_gives_affine_meta_and_provenance(te_ms):
    affine = np.diag([0.7, 0.7, 4.0, 1.0])
    affine[:3, 3] = [-10, 20, 5]
    data = _decay(te_ms, np.full((3, 2, 2), 90.0))
    series = MultiEchoSeries(data, te_ms, affine, {"vendor": "ge", "source": "/data/x"})
    fitted = T2Model(te_ms, "nlls", skip_first_echo=True, max_te_ms=100.0).fit(series)
    np.testing.assert_array_equal(fitted.affine, affine)
    assert fitted.meta == {"vendor": "ge", "source": "/data/x"}
    prov = fitted.provenance
    assert prov["method"] == "nlls"
    assert prov["version"] == discT2.__version__
    assert prov["source"] == "/data/x"
    assert prov["echo_times_used_ms"] == te_ms[1:10].tolist()
    assert [d["index"] for d in prov["echoes_dropped"]] == [0, 10, 11]
    assert prov["options"]["skip_first_echo"] is True
    assert prov["options"]["max_te_ms"] == 100.0
    assert prov["sigma_used"] is None
    assert prov["n_fitted"] == 12
    assert "date" in prov
    json.dumps(prov)  # serialisable as fit.json


def test_meta_is_copied_not_shared(te_ms):
    series = MultiEchoSeries(_decay(te_ms, np.full((2, 1, 1), 50.0)), te_ms, np.eye(4), {"a": [1]})
    fitted = T2Model(te_ms).fit(series)
    fitted.meta["a"].append(2)
    assert series.meta["a"] == [1]


def test_series_echo_times_must_match_the_model(te_ms):
    series = MultiEchoSeries(_decay(te_ms, np.full((2, 1, 1), 50.0)), te_ms, np.eye(4))
    with pytest.raises(EchoTimeError, match="differ from the model"):
        T2Model(te_ms * 1.1).fit(series)


def test_array_echo_axis_must_match(te_ms):
    with pytest.raises(ShapeMismatchError, match="echoes on its last axis"):
        T2Model(te_ms).fit(np.ones((4, 11)))
    with pytest.raises(ShapeMismatchError, match="1 to 4 axes"):
        T2Model(te_ms).fit(np.ones((2, 2, 2, 2, 12)))
    with pytest.raises(InputError, match="real numbers"):
        T2Model(te_ms).fit(np.ones((2, 12), dtype=complex))


def test_integer_input_is_fitted(te_ms):
    data = np.round(_decay(te_ms, np.full((3, 3), 60.0))).astype(np.int16)
    fitted = T2Model(te_ms).fit(data)
    np.testing.assert_allclose(fitted.t2_ms, 60.0, rtol=5e-3)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"method": "bogus"}, InputError, "method must be one of"),
        ({"min_echoes": 1}, InputError, "min_echoes must be at least 2"),
        ({"min_echoes": 2.5}, InputError, "min_echoes must be an integer"),
        ({"t2_bounds_ms": (100, 10)}, InputError, "0 < low < high"),
        ({"t2_bounds_ms": 5}, InputError, "pair"),
        ({"sigma": -1.0}, InputError, "sigma must be a positive number"),
        ({"refocusing_deg": 200.0}, InputError, r"angle in \(0, 180\]"),
        ({"excitation_deg": 0.0}, InputError, "excitation_deg"),
        ({"t1_ms": 0.0}, InputError, "t1_ms must be a positive"),
        ({"echo_spacing_ms": float("nan")}, InputError, "echo_spacing_ms"),
        ({"b1_bounds": (1.2, 0.5)}, InputError, "b1_bounds"),
        ({"min_r2": 1.5}, InputError, "min_r2"),
        ({"workers": 0}, InputError, "workers must be a positive integer"),
        ({"chunk_size": 0}, InputError, "chunk_size must be a positive integer"),
        ({"slice_profile": "gauss"}, InputError, "slice_profile must be"),
        ({"slice_profile": ([1.0, 0.5], [1.0])}, InputError, "equal length"),
        ({"max_te_ms": 25.0}, EchoTimeError, "2 of 12 echoes left"),
        ({"skip_first_echo": True, "min_echoes": 12}, EchoTimeError, "needs at least 12"),
    ],
)
def test_bad_options_are_refused(kwargs, error, match, te_ms):
    with pytest.raises(error, match=match):
        T2Model(te_ms, **kwargs)


@pytest.mark.parametrize(
    ("te", "match"),
    [([10.0], "at least 2"), ([10.0, 10.0, 20.0], "strictly increasing"), ([-1, 2], "positive")],
)
def test_bad_echo_times_are_refused(te, match):
    with pytest.raises(EchoTimeError, match=match):
        T2Model(te)


def test_offset_needs_three_echoes():
    with pytest.raises(EchoTimeError, match="needs at least 3"):
        T2Model([10.0, 20.0], "offset", min_echoes=2)


def test_failed_and_masked_voxels_are_nan_with_flags(te_ms):
    data = _decay(te_ms, np.full((6,), 80.0))
    data[1] = 0.0  # no signal at all
    data[2, 3] = np.nan  # a broken echo
    mask = np.array([True, True, True, True, False, True])
    with pytest.warns(FitWarning, match="2 of 5 fitted voxels"):
        fitted = T2Model(te_ms).fit(data, mask=mask)
    t2 = fitted.t2_ms.ravel()
    flags = fitted.flags.ravel()
    assert flags[1] == FitFlag.FAILED and flags[2] == FitFlag.FAILED
    assert flags[4] == FitFlag.MASKED
    for arr in (fitted.t2_ms, fitted.s0, fitted.t2_sd_ms, fitted.r2, fitted.rmse):
        assert np.all(np.isnan(arr.ravel()[[1, 2, 4]]))
        assert np.all(np.isfinite(arr.ravel()[[0, 3, 5]]))
    np.testing.assert_allclose(t2[[0, 3, 5]], 80.0, rtol=1e-4)
    assert fitted.provenance["flag_counts"]["FAILED"] == 2
    assert fitted.valid().ravel().tolist() == [True, False, False, True, False, True]


@pytest.mark.parametrize("method", FIT_METHODS)
def test_every_method_flags_failures_instead_of_raising(method, te_ms):
    data = np.zeros((2, 12))
    data[0] = _decay(te_ms, 50.0)
    data[1, 5] = np.inf
    with pytest.warns(FitWarning):
        fitted = T2Model(te_ms, method, **_options(method)).fit(data)
    assert fitted.flags.ravel()[1] == FitFlag.FAILED
    assert np.isnan(fitted.t2_ms.ravel()[1])


def test_t2_beyond_the_bound_ends_on_it(te_ms):
    fitted = T2Model(te_ms, t2_bounds_ms=(1.0, 100.0)).fit(_decay(te_ms, 400.0))
    assert fitted.t2_ms.ravel()[0] == pytest.approx(100.0)
    assert fitted.flags.ravel()[0] & FitFlag.AT_BOUND


def test_range_flags_follow_the_noise(rng, te_ms, noisy):
    sigma = 10.0
    truth = np.array([2.0, 80.0, 20000.0])
    data = np.vstack([noisy(rng, _decay(te_ms, t), sigma, 1) for t in truth])
    fitted = T2Model(te_ms, sigma=sigma).fit(data)
    flags = fitted.flags.ravel()
    assert flags[0] & FitFlag.T2_BELOW_RANGE  # gone before the second echo
    assert not flags[1] & (FitFlag.T2_BELOW_RANGE | FitFlag.T2_ABOVE_RANGE)
    assert flags[2] & FitFlag.T2_ABOVE_RANGE  # decays 0.6 % over the train at SNR 100


def test_pure_noise_is_a_poor_fit(rng, te_ms):
    data = rng.uniform(90, 110, (50, 12))
    fitted = T2Model(te_ms).fit(data)
    poor = (fitted.flags & FitFlag.POOR_FIT) != 0
    assert poor.mean() > 0.9
    assert np.all(fitted.r2[poor] < 0.9)


def test_masks_from_arrays_paths_and_auto(tmp_path, te_ms):
    affine = np.diag([1.0, 1.0, 3.0, 1.0])
    data = np.zeros((6, 5, 2, 12))
    data[1:4, 1:4] = _decay(te_ms, np.full((3, 3, 2), 70.0))
    series = MultiEchoSeries(data, te_ms, affine)
    mask = np.zeros((6, 5, 2), bool)
    mask[2, 2, :] = True
    model = T2Model(te_ms)
    by_array = model.fit(series, mask=mask)
    assert np.isfinite(by_array.t2_ms).sum() == 2
    assert by_array.provenance["mask"] == "array"
    path = save_map(mask.astype(np.uint8), affine, tmp_path / "mask.nii.gz", dtype=np.uint8)
    by_path = model.fit(series, mask=path)
    np.testing.assert_array_equal(by_path.flags, by_array.flags)
    assert by_path.provenance["mask"] == str(path)
    by_auto = model.fit(series, mask="auto")
    assert by_auto.provenance["mask"] == "auto"
    np.testing.assert_array_equal(np.isfinite(by_auto.t2_ms), np.any(data > 0, axis=3))
    with pytest.warns(FitWarning):
        by_none = model.fit(series, mask="none")
    assert by_none.provenance["mask"] == "none"


def test_mask_errors(tmp_path, te_ms):
    series = MultiEchoSeries(_decay(te_ms, np.full((3, 3, 1), 70.0)), te_ms, np.eye(4))
    model = T2Model(te_ms)
    with pytest.raises(ShapeMismatchError, match="mask has shape"):
        model.fit(series, mask=np.ones((2, 2), bool))
    with pytest.raises(InputError, match="no such file"):
        model.fit(series, mask=tmp_path / "missing.nii.gz")
    shifted = np.eye(4)
    shifted[0, 3] = 5.0
    path = save_map(np.ones((3, 3, 1)), shifted, tmp_path / "m.nii.gz")
    with pytest.raises(GeometryError, match="not on the same grid"):
        model.fit(series, mask=path)
    with pytest.raises(InputError, match="mask must be None"):
        model.fit(series, mask=3)


def test_mask_in_the_input_shape_of_an_array(te_ms):
    data = _decay(te_ms, np.full((4, 3), 70.0))
    mask = np.zeros((4, 3), bool)
    mask[0, 0] = True
    fitted = T2Model(te_ms).fit(data, mask=mask)
    assert np.isfinite(fitted.t2_ms).sum() == 1


def test_progress_reports_every_chunk_and_can_stop(te_ms):
    data = _decay(te_ms, np.full((100,), 70.0))
    calls = []
    T2Model(te_ms, chunk_size=30, workers=1).fit(data, progress=lambda d, t: calls.append((d, t)))
    assert calls[0] == (0, 100) and calls[-1] == (100, 100)
    assert [c[0] for c in calls] == sorted(c[0] for c in calls)
    assert len(calls) == 5

    class Stop(Exception):
        pass

    def stop(done, total):
        if done:
            raise Stop

    with pytest.raises(Stop):
        T2Model(te_ms, chunk_size=10, workers=2).fit(data, progress=stop)
    with pytest.raises(InputError, match="progress must be a callable"):
        T2Model(te_ms).fit(data, progress=5)


@pytest.mark.parametrize("method", FIT_METHODS)
def test_workers_and_chunks_do_not_change_results(method, rng, te_ms, noisy):
    t2 = rng.uniform(20, 300, 300)
    data = np.vstack([noisy(rng, _decay(te_ms, t), 15.0, 1) for t in t2]).reshape(10, 30, 12)
    opts = _options(method, refocusing_deg=170.0) if method == "epg" else _options(method)
    one = T2Model(te_ms, method, workers=1, chunk_size=1000, **opts).fit(data)
    many = T2Model(te_ms, method, workers=3, chunk_size=7, **opts).fit(data)
    for name in ("t2_ms", "s0", "t2_sd_ms", "r2", "rmse", "flags"):
        np.testing.assert_array_equal(getattr(one, name), getattr(many, name))


def test_extra_maps_per_method(te_ms):
    data = _decay(te_ms, np.full((2,), 70.0)) + 30.0
    offset = T2Model(te_ms, "offset").fit(data)
    np.testing.assert_allclose(offset.offset, 30.0, rtol=1e-3)
    assert offset.b1 is None
    epg = T2Model(te_ms, "epg").fit(_decay(te_ms, np.full((2,), 70.0)))
    assert epg.b1 is not None and epg.offset is None
    assert epg.provenance["refocusing_source"] == "assumed (not in the header)"
    assert T2Model(te_ms, "nlls").fit(data).b1 is None


def test_fit_t2_defaults_to_an_auto_mask_and_saves(tmp_path, te_ms):
    data = np.zeros((8, 8, 1, 12))
    data[2:6, 2:6] = _decay(te_ms, np.full((4, 4, 1), 100.0))
    series = MultiEchoSeries(data, te_ms, np.eye(4))
    fitted = fit_t2(series, "epg", refocusing_deg=180.0)
    assert isinstance(fitted, T2Map)
    assert fitted.provenance["mask"] == "auto"
    assert np.isfinite(fitted.t2_ms).sum() == 16
    written = fitted.save(tmp_path / "out")
    assert {"t2_ms", "s0", "t2_sd_ms", "r2", "flags", "b1", "provenance"} <= set(written)
    back = T2Map.load(tmp_path / "out")
    np.testing.assert_array_equal(back.t2_ms, fitted.t2_ms)
    with pytest.raises(InputError, match="needs a MultiEchoSeries"):
        fit_t2(np.ones((2, 12)))


def test_epg_needs_echo_times_on_a_spacing_grid():
    model = T2Model([10.0, 25.0, 37.0], "epg")
    with pytest.raises(EchoTimeError, match="needs the echo spacing"):
        model.fit(np.ones((1, 3)))
    model = T2Model([10.0, 25.0, 40.0], "epg", echo_spacing_ms=10.0)
    with pytest.raises(EchoTimeError, match="not whole multiples"):
        model.fit(np.ones((1, 3)))


def test_repr_names_method_and_echoes(te_ms):
    text = repr(T2Model(te_ms, "ncexp", skip_first_echo=True))
    assert "ncexp" in text and "11 of 12" in text
