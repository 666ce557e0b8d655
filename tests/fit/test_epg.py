"""EPG fit: the dictionary, stimulated-echo compensated accuracy, slice profiles."""

import math

import numpy as np
import pytest

from discT2 import T2Model, cpmg_signal
from discT2.epg import sinc_slice_profile
from discT2.fit import epg_dictionary
from discT2.fit.epg import effective_b1_max

ESP = 10.0


@pytest.mark.parametrize("profile", [None, sinc_slice_profile(n_positions=6)])
def test_dictionary_is_the_epg_signal(profile):
    numbers = (2, 3, 5, 8)
    key = None if profile is None else tuple(tuple(p) for p in profile)
    d = epg_dictionary(ESP, numbers, 150.0, 90.0, 900.0, (5.0, 2000.0), (0.6, 1.2), key)
    sub_t, sub_b = slice(0, None, 37), slice(0, None, 7)
    expected = cpmg_signal(
        d.t2_ms[sub_t, None], ESP, 8, b1=d.b1[None, sub_b], t1_ms=900.0,
        refocusing_deg=150.0, slice_profile=profile,
    )[..., np.array(numbers) - 1]  # fmt: skip
    np.testing.assert_allclose(d.atoms[sub_t, sub_b], expected, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(d.unit_atoms, axis=-1), 1.0)
    assert d.t2_ms[0] == pytest.approx(5.0) and d.t2_ms[-1] == pytest.approx(2000.0)


def test_b1_stops_where_refocusing_reaches_180_degrees(te_ms):
    assert effective_b1_max(1.5, 150.0) == pytest.approx(1.2)
    fitted = T2Model(te_ms, "epg", refocusing_deg=150.0).fit(np.exp(-te_ms / 50.0))
    assert fitted.provenance["b1_range_used"] == [0.5, pytest.approx(1.2)]
    # with a slice profile too: above 180 degrees at the slice centre a train looks like one with
    # a smaller angle, and voxels could take either branch (a field smoothed over both is wrong)
    with_profile = T2Model(te_ms, "epg", refocusing_deg=150.0, slice_profile="sinc")
    used = with_profile.fit(np.exp(-te_ms / 50.0)).provenance["b1_range_used"]
    assert used == [0.5, pytest.approx(1.2)]


@pytest.mark.parametrize("alpha", [150.0, 180.0])
@pytest.mark.parametrize("snr", [50, 100])
def test_stimulated_echo_compensation(alpha, snr, rng, noisy, te_ms):
    """epg within 2 % where nlls carries the known stimulated-echo bias."""
    model_epg = T2Model(te_ms, "epg", refocusing_deg=alpha)
    model_nlls = T2Model(te_ms, "nlls")
    for b1 in (0.8, 0.9, 1.0):
        for t2 in (40.0, 100.0, 250.0):
            clean = 1000.0 * cpmg_signal(t2, ESP, 12, b1=b1, refocusing_deg=alpha)
            data = noisy(rng, clean, clean[0] / snr, 1000)
            bias_epg = np.median(model_epg.fit(data).t2_ms) / t2 - 1
            bias_nlls = np.median(model_nlls.fit(data).t2_ms) / t2 - 1
            assert abs(bias_epg) < 0.02, (b1, t2, bias_epg)
            if alpha * b1 <= 150.0:
                # McPhee & Wilman 2018: mono-exponential fits overestimate by 10-40 %
                assert bias_nlls > 0.04, (b1, t2, bias_nlls)
                assert abs(bias_epg) < bias_nlls / 3


def test_noise_free_b1_and_s0_are_recovered(rng, te_ms):
    t2 = rng.uniform(20, 300, 200)
    b1 = rng.uniform(0.7, 1.1, 200)
    data = 700.0 * cpmg_signal(t2, ESP, 12, b1=b1, refocusing_deg=150.0)
    fitted = T2Model(te_ms, "epg", refocusing_deg=150.0).fit(data)
    np.testing.assert_allclose(fitted.t2_ms.ravel(), t2, rtol=1e-3)
    np.testing.assert_allclose(fitted.b1.ravel(), b1, atol=2e-3)
    # S0 is the transverse magnetisation after a nominal excitation: the B1 of the excitation
    # is inside the model
    np.testing.assert_allclose(fitted.s0.ravel(), 700.0, rtol=1e-3)


def test_skipped_first_echo_keeps_its_place_in_the_train(te_ms):
    data = cpmg_signal(70.0, ESP, 12, b1=0.85, refocusing_deg=160.0)
    fitted = T2Model(te_ms, "epg", refocusing_deg=160.0, skip_first_echo=True).fit(data)
    assert fitted.provenance["echo_numbers_in_train"] == list(range(2, 13))
    assert fitted.t2_ms.ravel()[0] == pytest.approx(70.0, rel=1e-3)


def test_refocusing_angle_from_the_series_metadata(te_ms):
    from discT2 import MultiEchoSeries

    data = cpmg_signal(np.full((2, 2, 1), 90.0), ESP, 12, b1=0.9, refocusing_deg=140.0)
    series = MultiEchoSeries(data, te_ms, np.eye(4), {"refocusing_angle_deg": 140.0})
    fitted = T2Model(te_ms, "epg").fit(series)
    assert fitted.provenance["refocusing_deg_used"] == 140.0
    assert fitted.provenance["refocusing_source"] == "series metadata"
    np.testing.assert_allclose(fitted.t2_ms, 90.0, rtol=1e-3)


def test_slice_profile_model_removes_the_slice_profile_bias(rng, noisy, te_ms):
    profile = sinc_slice_profile()
    t2 = np.array([40.0, 100.0, 250.0])
    clean = 1000.0 * cpmg_signal(t2, ESP, 12, b1=0.95, refocusing_deg=180.0, slice_profile=profile)
    data = np.concatenate([noisy(rng, c, 5.0, 300) for c in clean])
    truth = np.repeat(t2, 300)
    uniform = T2Model(te_ms, "epg").fit(data).t2_ms.ravel()
    profiled = T2Model(te_ms, "epg", slice_profile="sinc").fit(data).t2_ms.ravel()
    for k in range(3):
        sel = truth == t2[k]
        assert abs(np.median(profiled[sel]) / t2[k] - 1) < 0.015
        assert np.median(uniform[sel]) / t2[k] - 1 > 0.05


def test_t2_sd_matches_the_spread(rng, noisy, te_ms):
    clean = 1000.0 * cpmg_signal(80.0, ESP, 12, b1=0.9, refocusing_deg=150.0)
    data = noisy(rng, clean, 10.0, 2000)
    fitted = T2Model(te_ms, "epg", refocusing_deg=150.0).fit(data)
    assert 0.8 < np.median(fitted.t2_sd_ms) / np.std(fitted.t2_ms) < 1.25


def test_s0_is_what_a_nominal_excitation_tips(te_ms):
    # 500 units of equilibrium magnetisation, excited at 70 degrees x B1 = 0.9
    data = 500.0 * cpmg_signal(60.0, ESP, 12, b1=0.9, refocusing_deg=160.0, excitation_deg=70.0)
    fitted = T2Model(te_ms, "epg", refocusing_deg=160.0, excitation_deg=70.0).fit(data)
    assert fitted.t2_ms.ravel()[0] == pytest.approx(60.0, rel=1e-3)
    assert fitted.b1.ravel()[0] == pytest.approx(0.9, abs=2e-3)
    assert fitted.s0.ravel()[0] == pytest.approx(500.0 * math.sin(math.radians(70.0)), rel=1e-3)
