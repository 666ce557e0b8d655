"""EPG CPMG signal against an independent isochromat (Bloch) simulation."""

import numpy as np
import pytest

from discT2.epg import cpmg_signal
from discT2.errors import InputError


def _isochromat_cpmg(t2, t1, esp, n_echoes, alpha_deg, n_iso=720):
    """Bloch simulation of spins whose dephasing per half echo spacing spans one full cycle."""
    theta = 2 * np.pi * np.arange(n_iso) / n_iso
    m = np.zeros((n_iso, 3))
    m[:, 0] = 1.0  # after a 90-degree excitation about y: magnetisation along x (CPMG phase)
    e2 = np.exp(-0.5 * esp / t2)
    e1 = np.exp(-0.5 * esp / t1)
    a = np.radians(alpha_deg)
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    c, s = np.cos(theta), np.sin(theta)

    def free(m):
        x, y = m[:, 0] * e2, m[:, 1] * e2
        return np.stack([c * x - s * y, s * x + c * y, m[:, 2] * e1], axis=1)

    echoes = []
    for _ in range(n_echoes):
        m = free(m)
        m = m @ rx.T
        m = free(m)
        echoes.append(m[:, 0].mean())
    return np.array(echoes)


@pytest.mark.parametrize("alpha", [180.0, 160.0, 130.0, 90.0])
@pytest.mark.parametrize(("t2", "t1"), [(40.0, 800.0), (120.0, 1200.0)])
def test_matches_isochromat_simulation(alpha, t2, t1):
    expected = _isochromat_cpmg(t2, t1, 10.0, 12, alpha)
    got = cpmg_signal(t2, 10.0, 12, refocusing_deg=alpha, t1_ms=t1)
    np.testing.assert_allclose(got, expected, atol=1e-9)


def test_b1_scales_the_refocusing_angle():
    a = cpmg_signal(80.0, 12.0, 10, b1=0.8, refocusing_deg=180.0)
    b = cpmg_signal(80.0, 12.0, 10, refocusing_deg=144.0, excitation_deg=72.0)
    np.testing.assert_allclose(a, b, atol=1e-12)


def test_imperfect_refocusing_gives_the_stimulated_echo_pattern():
    s = cpmg_signal(100.0, 10.0, 8, refocusing_deg=120.0)
    ideal = np.exp(-10.0 * np.arange(1, 9) / 100.0)
    assert s[0] < ideal[0]  # first echo has no stimulated pathway
    assert s[1] > s[0]  # second echo recovers it
    # a mono-exponential through the tail decays slower than the truth
    slope = np.polyfit(np.arange(2, 8) * 10.0, np.log(s[2:]), 1)[0]
    assert -1.0 / slope > 100.0


def test_broadcasts_parameters():
    s = cpmg_signal(np.array([[50.0], [100.0]]), 10.0, 6, b1=np.array([0.8, 0.9, 1.0]))
    assert s.shape == (2, 3, 6)
    np.testing.assert_allclose(s[1, 2], np.exp(-np.arange(1, 7) * 0.1))


def test_slice_profile_averages_positions():
    profile = (np.array([1.0, 0.5]), np.array([1.0, 0.6]))
    s = cpmg_signal(70.0, 10.0, 6, slice_profile=profile, refocusing_deg=180.0)
    a = cpmg_signal(70.0, 10.0, 6, refocusing_deg=180.0)
    b = cpmg_signal(70.0, 10.0, 6, refocusing_deg=108.0, excitation_deg=45.0)
    np.testing.assert_allclose(s, 0.5 * (a + b), atol=1e-12)


def test_per_echo_refocusing_angles():
    angles = [180.0, 120.0, 120.0, 120.0]
    s = cpmg_signal(60.0, 10.0, 4, refocusing_deg=angles)
    assert s.shape == (4,)
    assert s[0] == pytest.approx(np.exp(-10.0 / 60.0))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"t2_ms": -1.0}, "positive"),
        ({"n_echoes": 0}, "at least 1"),
        ({"echo_spacing_ms": 0.0}, "echo_spacing_ms"),
    ],
)
def test_rejects_bad_input(kwargs, match):
    args = {"t2_ms": 50.0, "echo_spacing_ms": 10.0, "n_echoes": 4} | kwargs
    with pytest.raises(InputError, match=match):
        cpmg_signal(**args)


def test_sinc_slice_profile_shape():
    from discT2.epg import sinc_slice_profile

    exc, ref = sinc_slice_profile(time_bandwidth=4.0, refocusing_width=1.0, n_positions=30)
    z = (np.arange(30) + 0.5) * 1.5 / 30
    # the excitation slice: full angle in the middle, half at about half a slice thickness
    assert exc[0] > 0.99
    half = z[np.argmin(np.abs(exc - 0.5))]
    assert 0.4 < half < 0.6
    assert np.all(np.diff(exc[z < 0.8]) < 0)
    assert exc[-1] < 0.02
    # a wider refocusing slab stretches its profile along z
    _, wide = sinc_slice_profile(time_bandwidth=4.0, refocusing_width=1.5, n_positions=30)
    np.testing.assert_allclose(np.interp(z[:10] * 1.5, z, wide), ref[:10], atol=0.02)


def test_sinc_slice_profile_refuses_bad_arguments():
    from discT2.epg import sinc_slice_profile

    with pytest.raises(InputError, match="positive"):
        sinc_slice_profile(time_bandwidth=0.0)
    with pytest.raises(InputError, match="n_positions"):
        sinc_slice_profile(n_positions=0)
