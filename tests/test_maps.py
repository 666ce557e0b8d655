import json

import numpy as np
import pytest

from discT2 import FitFlag, InputError, ShapeMismatchError, T2Map


def _map(with_b1=False):
    rng = np.random.default_rng(0)
    shape = (4, 5, 2)
    t2 = rng.uniform(20, 200, shape).astype(np.float32)
    t2[0, 0, 0] = np.nan
    flags = np.zeros(shape, np.uint16)
    flags[0, 0, 0] = FitFlag.FAILED
    flags[1, 1, 1] = FitFlag.T2_ABOVE_RANGE | FitFlag.AT_BOUND
    affine = np.array([[0, 0, 4.0, 1], [-0.5, 0, 0, 2], [0, -0.5, 0, 3], [0, 0, 0, 1]])
    return T2Map(
        t2_ms=t2,
        s0=t2 * 10,
        t2_sd_ms=t2 / 20,
        r2=np.full(shape, 0.99),
        rmse=np.ones(shape),
        flags=flags,
        affine=affine,
        b1=np.full(shape, 0.9) if with_b1 else None,
        provenance={"method": "nlls", "echo_times_ms": np.array([10.0, 20.0])},
        meta={"vendor": "siemens"},
    )


def test_valid_excludes_failed_and_nan():
    m = _map()
    valid = m.valid()
    assert not valid[0, 0, 0]
    assert valid[1, 1, 1]  # out of range is a warning flag, not a failure
    assert valid.sum() == m.t2_ms.size - 1


@pytest.mark.parametrize("with_b1", [False, True])
def test_save_load_round_trip(tmp_path, with_b1):
    m = _map(with_b1)
    written = m.save(tmp_path / "fit")
    assert ("b1" in written) == with_b1
    back = T2Map.load(tmp_path / "fit")
    np.testing.assert_array_equal(back.t2_ms, m.t2_ms)
    np.testing.assert_array_equal(back.flags, m.flags)
    np.testing.assert_allclose(back.affine, m.affine)
    assert back.method == "nlls"
    assert back.provenance["echo_times_ms"] == [10.0, 20.0]
    assert back.meta == {"vendor": "siemens"}
    assert (back.b1 is not None) == with_b1
    assert json.loads((tmp_path / "fit" / "fit.json").read_text())["meta"]["vendor"] == "siemens"
    again = T2Map.load(tmp_path / "fit" / "t2.nii.gz")
    np.testing.assert_array_equal(again.s0, m.s0)


def test_load_a_bare_t2_map_from_elsewhere(tmp_path):
    from discT2.io import save_map

    t2 = np.full((3, 3, 1), 80.0)
    t2[0, 0, 0] = np.nan
    save_map(t2, np.eye(4), tmp_path / "vendor_t2.nii.gz")
    m = T2Map.load(tmp_path / "vendor_t2.nii.gz")
    assert np.isnan(m.s0).all()
    assert m.flags[0, 0, 0] == FitFlag.FAILED
    assert m.valid().sum() == 8


def test_shape_checks():
    m = _map()
    with pytest.raises(ShapeMismatchError, match="s0 has shape"):
        T2Map(
            t2_ms=m.t2_ms,
            s0=np.ones((2, 2, 2)),
            t2_sd_ms=m.t2_sd_ms,
            r2=m.r2,
            rmse=m.rmse,
            flags=m.flags,
            affine=m.affine,
        )


def test_load_missing_file_names_it(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        T2Map.load(tmp_path / "nothing")
