"""The default fit: EPG with a smooth B1 field, slice profile from the header, T1 value or map."""

import numpy as np
import pytest

from discT2 import EPGOptions, FitFlag, InputError, MultiEchoSeries, T2Model, cpmg_signal
from discT2.epg import sinc_slice_profile
from discT2.fit import DEFAULT_METHOD, estimate_noise_sigma
from discT2.fit.b1map import smooth_b1
from discT2.fit.noise import estimate_noise_sigma_from_residuals

ESP = 10.0
N_ECHOES = 12
TE = np.arange(1, N_ECHOES + 1) * ESP


def _phantom(rng, *, profile=None, t1=1000.0, snr=200.0, shape=(48, 48, 2)):
    """Blocks of different T2 under a smooth B1 ramp, 2 mm pixels; returns (series, t2, b1)."""
    i, j, _ = np.indices(shape)
    t2 = np.choose((i // 12 + j // 12) % 4, [45.0, 80.0, 120.0, 200.0]).astype(float)
    b1 = 0.8 + 0.18 * i / (shape[0] - 1)
    signal = 1000.0 * cpmg_signal(
        t2, ESP, N_ECHOES, b1=b1, t1_ms=t1, refocusing_deg=180.0, slice_profile=profile
    )
    if profile is not None:
        signal /= np.mean(profile[0])
    sigma = 1000.0 / snr
    noisy = np.abs(
        signal + rng.normal(0, sigma, signal.shape) + 1j * rng.normal(0, sigma, signal.shape)
    )
    affine = np.diag([2.0, 2.0, 4.0, 1.0])
    meta = {"acquisition_type": "2D" if profile is not None else "3D"}
    return MultiEchoSeries(noisy.astype(np.float32), TE, affine, meta), t2, b1


def test_the_default_method_is_epg_with_a_smooth_field():
    model = T2Model(TE)
    assert model.method == DEFAULT_METHOD == "epg"
    assert model.epg == EPGOptions()
    assert model.options["epg"]["b1"] == "smooth"
    assert model.options["epg"]["slice_profile"] == "auto"


def test_smooth_b1_recovers_the_field_and_t2_on_a_2d_slice(rng):
    profile = sinc_slice_profile()
    series, t2, b1 = _phantom(rng, profile=profile)
    fitted = T2Model(TE).fit(series, mask="none")
    prov = fitted.provenance
    assert prov["b1_mode"] == "smooth"
    assert prov["slice_profile_used"].startswith("2-D slice")
    # the field follows the true ramp, not the T2 blocks
    inner = (slice(4, -4), slice(4, -4), slice(None))
    assert np.max(np.abs(fitted.b1[inner] - b1[inner])) < 0.03
    err = fitted.t2_ms / t2 - 1
    assert abs(np.median(err)) < 0.01
    assert np.percentile(np.abs(err[inner]), 95) < 0.04


def test_the_b1_field_does_not_follow_the_t2_blocks(rng):
    profile = sinc_slice_profile()
    series, _, _ = _phantom(rng, profile=profile, t1=400.0)  # the model assumes 1000 ms
    smooth = T2Model(TE).fit(series, mask="none")
    # across a row the true field is constant while T2 changes block by block
    row = smooth.b1[20, :, 0]
    assert np.ptp(row) < 0.01


def test_a_3d_or_unknown_acquisition_is_a_uniform_slice(rng):
    series, t2, _ = _phantom(rng)
    fitted = T2Model(TE).fit(series, mask="none")
    assert fitted.provenance["slice_profile_used"] == "uniform (3-D acquisition)"
    assert abs(np.median(fitted.t2_ms / t2) - 1) < 0.01
    array_fit = T2Model(TE).fit(np.asarray(series.data[:4, :4, 0]))
    assert array_fit.provenance["b1_mode"] == "voxel"
    assert "not known" in array_fit.provenance["slice_profile_used"]


def test_t1_as_a_map(rng):
    series, t2, _ = _phantom(rng, t1=600.0)
    t1_map = np.full(series.shape, 600.0)
    t1_map[:, 24:] = 1500.0  # wrong half: the fit there assumes another T1
    fitted = T2Model(TE, t1_ms=t1_map).fit(series, mask="none")
    assert fitted.provenance["t1_ms_assumed"]["n_groups"] == 2
    right = np.median(fitted.t2_ms[:, :24] / t2[:, :24]) - 1
    assert abs(right) < 0.01
    with pytest.raises(InputError, match="t1_ms map has shape"):
        T2Model(TE, t1_ms=np.full((3, 3, 3), 1000.0)).fit(series)


def test_predict_reproduces_the_data(rng):
    profile = sinc_slice_profile()
    series, _, _ = _phantom(rng, profile=profile, snr=1e6)
    model = T2Model(TE, b1="voxel")
    fitted = model.fit(series, mask="none")
    predicted = model.predict(fitted)
    rel = np.abs(predicted - series.data) / series.data[..., :1]
    assert np.nanmax(rel) < 0.003
    smooth = T2Model(TE)
    rel_smooth = np.abs(smooth.predict(smooth.fit(series, mask="none")) - series.data)
    assert np.nanmedian(rel_smooth / series.data[..., :1]) < 0.003
    nlls = T2Model(TE, "nlls", skip_first_echo=True)
    with pytest.raises(InputError, match="predict"):
        nlls.predict(fitted)


def test_echo_time_range_flags():
    te = np.arange(1, 9) * 12.0
    data = 1000.0 * np.exp(-te[None, :] / np.array([[8.0], [60.0], [900.0]]))
    fitted = T2Model(te, "nlls").fit(data)
    flags = fitted.flags[:, 0, 0]
    assert flags[0] & FitFlag.T2_BELOW_RANGE  # 8 ms from 12 ms echoes
    assert not flags[1] & (FitFlag.T2_BELOW_RANGE | FitFlag.T2_ABOVE_RANGE)
    assert flags[2] & FitFlag.T2_ABOVE_RANGE  # > 2 x 96 ms
    assert "1.5 x the first used echo time" in fitted.provenance["flag_rules"]["T2_BELOW_RANGE"]


def test_offset_model_flags_a_constant_it_cannot_separate():
    te = np.arange(1, 33) * 5.0
    slow = 1000.0 * np.exp(-te / 900.0)  # a 900 ms sphere over a 160 ms train
    fast = 1000.0 * np.exp(-te / 50.0) + 20.0
    fitted = T2Model(te, "offset").fit(np.stack([slow, fast]))
    flags = fitted.flags[:, 0, 0]
    assert flags[0] & FitFlag.OFFSET_UNRESOLVED or flags[0] & FitFlag.T2_ABOVE_RANGE
    assert not flags[1] & FitFlag.OFFSET_UNRESOLVED


@pytest.mark.parametrize("t2", [40.0, 80.0, 300.0])
def test_ncexp_estimates_sigma_from_residuals_without_background(t2, rng):
    sigma = 1000.0 / 15.0  # SNR 15 at the first echo
    clean = 1000.0 * np.exp(-TE / t2) * np.ones((48, 48, 1, 1))
    noisy = np.abs(
        clean + rng.normal(0, sigma, clean.shape) + 1j * rng.normal(0, sigma, clean.shape)
    )
    series = MultiEchoSeries(noisy, TE, np.eye(4))  # no air anywhere
    with pytest.raises(InputError):
        estimate_noise_sigma(series)
    fitted = T2Model(TE, "ncexp").fit(series, mask="none")
    assert fitted.provenance["sigma_source"].startswith("fit residuals")
    assert fitted.provenance["sigma_used"] == pytest.approx(sigma, rel=0.03)
    assert abs(np.median(fitted.t2_ms) / t2 - 1) < 0.005


def test_residual_noise_needs_voxels_above_the_floor():
    with pytest.raises(InputError, match="voxels"):
        estimate_noise_sigma_from_residuals(np.ones((10, N_ECHOES)), TE)


def test_smooth_b1_ignores_outliers():
    rng = np.random.default_rng(0)
    true = np.full((30, 30, 1), 0.9)
    noisy = true + rng.normal(0, 0.02, true.shape)
    noisy[10:12, 10:12] = 0.5  # an edge where the model failed
    field, info = smooth_b1(noisy, np.full(true.shape, 0.02), np.ones(true.shape, bool), (2, 2, 4))
    assert info["n_outliers"] >= 4
    assert np.max(np.abs(field - 0.9)) < 0.02


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"b1": "field"}, "b1 must be"),
        ({"t1_ms": -3.0}, "t1_ms"),
        ({"slice_profile": "gauss"}, "slice_profile"),
        ({"b1_fwhm_mm": 0}, "b1_fwhm_mm"),
        ({"refocusing_deg": 200.0}, "refocusing_deg"),
    ],
)
def test_epg_options_are_checked(kwargs, match):
    with pytest.raises(InputError, match=match):
        EPGOptions(**kwargs)
    with pytest.raises(InputError, match=match):
        T2Model(TE, **kwargs)


def test_a_fixed_b1_outside_its_range_is_refused():
    with pytest.raises(InputError, match="outside the B1 range"):
        T2Model(TE, b1=1.2, refocusing_deg=180.0).fit(1000.0 * np.exp(-TE / 60.0))
    fitted = T2Model(TE, b1=0.9, refocusing_deg=180.0).fit(1000.0 * np.exp(-TE / 60.0))
    assert fitted.provenance["b1_mode"] == "fixed"
    assert float(fitted.b1.ravel()[0]) == pytest.approx(0.9)


def test_epg_options_and_shorthands_do_not_mix():
    with pytest.raises(InputError, match="not both"):
        T2Model(TE, epg=EPGOptions(), t1_ms=1200.0)
    with pytest.raises(InputError, match="unknown option"):
        T2Model(TE, t1=1200.0)
