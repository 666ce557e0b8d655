"""Protocol drift between baseline and follow-up exams."""

from __future__ import annotations

import pandas as pd
import pytest

from discT2.errors import InputError
from discT2.report import protocol_drift


def _exams(**follow_up):
    base = {
        "subject": "S1",
        "visit": "M0",
        "months": 0,
        "vendor": "Siemens",
        "field_strength_t": 3.0,
        "echo_times_ms": "10;20;30;40",
        "repetition_time_ms": 2000.0,
        "slice_thickness_mm": 3.0,
        "method": "nlls",
        "acquisition_time": "08:15:00",
    }
    return pd.DataFrame([base, {**base, "visit": "M12", "months": 12, **follow_up}])


def _flags(**follow_up):
    return protocol_drift(_exams(**follow_up))["protocol_flags"].tolist()


def test_same_protocol_has_no_flag():
    d = protocol_drift(
        _exams(vendor="SIEMENS", echo_times_ms="10;20.02;30;40", acquisition_time="10:14")
    )
    assert d[["subject", "visit", "months", "protocol_flags"]].to_dict("records") == [
        {"subject": "S1", "visit": "M12", "months": 12.0, "protocol_flags": ""}
    ]


@pytest.mark.parametrize(
    ("change", "flag", "detail"),
    [
        ({"vendor": "GE"}, "vendor", "vendor Siemens -> GE"),
        ({"field_strength_t": 1.5}, "field_strength", "field strength 3 -> 1.5 T"),
        ({"echo_times_ms": "10;20;30"}, "echo_times", "4 echoes 10-40 ms -> 3 echoes 10-30 ms"),
        ({"echo_times_ms": "11;22;33;44"}, "echo_times", "echo times"),
        ({"repetition_time_ms": 2500.0}, "repetition_time", "TR 2000 -> 2500 ms"),
        ({"slice_thickness_mm": 4.0}, "slice_thickness", "slice thickness 3 -> 4 mm"),
        ({"method": "epg"}, "fit_method", "fit method nlls -> epg"),
        ({"acquisition_time": "163000"}, "time_of_day", "time of day 08:15 -> 16:30 (+8.2 h)"),
    ],
)
def test_each_item_is_flagged(change, flag, detail):
    d = protocol_drift(_exams(**change)).iloc[0]
    assert d["protocol_flags"] == flag
    assert detail in d["protocol_details"]


def test_several_flags_in_a_fixed_order():
    assert _flags(acquisition_time="23:00", vendor="Philips") == ["vendor;time_of_day"]


def test_time_shift_wraps_round_midnight_and_threshold_is_configurable():
    exams = _exams(acquisition_time="06:30")  # 1.75 h earlier
    assert protocol_drift(exams)["protocol_flags"].tolist() == [""]
    assert protocol_drift(exams, max_time_shift_h=1.5)["protocol_flags"].tolist() == ["time_of_day"]
    night = _exams(acquisition_time="23:45")
    night.loc[0, "acquisition_time"] = "00:30"
    assert protocol_drift(night)["protocol_flags"].tolist() == [""]


def test_absent_or_empty_items_are_not_compared():
    exams = _exams(vendor="").drop(columns=["echo_times_ms", "field_strength_t"])
    assert protocol_drift(exams)["protocol_flags"].tolist() == [""]


def test_echo_times_as_sequences():
    exams = _exams()
    exams["echo_times_ms"] = [[10, 20, 30, 40], [10, 20, 30, 40]]
    assert protocol_drift(exams)["protocol_flags"].tolist() == [""]


def test_bad_values_are_refused():
    with pytest.raises(InputError, match=r"'acquisition_time' row 2 has '8 am'"):
        protocol_drift(_exams(acquisition_time="8 am"))
    with pytest.raises(InputError, match="'echo_times_ms' has '10;x'"):
        protocol_drift(_exams(echo_times_ms="10;x"))
    with pytest.raises(InputError, match="no baseline visit"):
        protocol_drift(_exams().iloc[[1]])
    with pytest.raises(InputError, match="unknown drift tolerance"):
        protocol_drift(_exams(), tolerances={"flip_angle_deg": 5})


def test_tolerances_are_configurable():
    exams = _exams(repetition_time_ms=2003.0)
    assert protocol_drift(exams)["protocol_flags"].tolist() == ["repetition_time"]
    relaxed = protocol_drift(exams, tolerances={"repetition_time_ms": 5.0})
    assert relaxed["protocol_flags"].tolist() == [""]
