"""Trained ranges: recorded from training values, checked against inputs, as SPEC's warnings."""

from __future__ import annotations

import numpy as np
import pytest

from pumpapi.models import support
from pumpapi.models.support import CODE, TrainedRanges


def _ranges(**columns) -> TrainedRanges:
    return TrainedRanges.from_metadata({support.METADATA_KEY: support.describe(columns)})


def test_describe_records_min_and_max_ignoring_non_finite_values():
    described = support.describe(
        {"Oil_P": np.array([0.4, 7.1, np.nan, 3.0]), "empty": np.array([np.inf])}
    )
    assert described["inputs"] == {"Oil_P": [0.4, 7.1]}


def test_inside_the_range_gives_no_warning_outside_gives_the_furthest_value():
    ranges = _ranges(pressao_oleo_bar=np.array([0.4, 7.1]), rpm=np.array([0.0, 1900.0]))
    assert ranges.warnings({"pressao_oleo_bar": 4.5, "rpm": 1800.0}) == []
    assert ranges.warnings({"pressao_oleo_bar": 18.0, "rpm": 1800.0}) == [
        {
            "code": CODE,
            "field": "pressao_oleo_bar",
            "value": 18.0,
            "trained_range": [0.4, 7.1],
        }
    ]
    window = np.array([0.3, 5.0, 9.0])  # 0.1 below, 1.9 above: the furthest is reported
    assert ranges.check("pressao_oleo_bar", window)["value"] == 9.0
    assert ranges.check("pressao_oleo_bar", np.array([0.0, 5.0]))["value"] == 0.0


def test_rows_and_windows_are_checked_per_input():
    ranges = _ranges(a=np.array([0.0, 1.0]), b=np.array([10.0, 20.0]))
    rows = np.array([[0.5, 15.0], [2.0, 15.0], [0.5, 30.0]])
    per_row = ranges.rows_warnings(rows, ("a", "b"))
    assert per_row[0] == []
    assert [w["field"] for w in per_row[1]] == ["a"]
    assert [w["field"] for w in per_row[2]] == ["b"]
    window = ranges.columns_warnings(rows, ("a", "b"))
    assert [(w["field"], w["value"]) for w in window] == [("a", 2.0), ("b", 30.0)]


def test_a_version_without_ranges_gives_no_warnings_and_a_malformed_one_fails():
    empty = TrainedRanges.from_metadata({})
    assert not empty
    assert empty.warnings({"a": 1e9}) == []
    with pytest.raises(ValueError, match="not \\[low, high\\]"):
        TrainedRanges.from_metadata({support.METADATA_KEY: {"inputs": {"a": [2.0, 1.0]}}})


def test_a_value_just_beyond_the_trained_extremes_is_not_warned():
    """Within 2 % of the range's width of an extreme: the noise of a finite sample's extremes,
    not a new operating point; beyond it, the warning reports the range itself."""
    ranges = _ranges(oil=np.array([0.0, 10.0]))  # width 10: margin 0.2
    assert ranges.warnings({"oil": 10.15}) == []
    assert ranges.warnings({"oil": -0.15}) == []
    assert ranges.warnings({"oil": 10.25})[0]["trained_range"] == [0.0, 10.0]
    assert ranges.check("oil", np.array([5.0, -0.25]))["value"] == -0.25
    per_row = ranges.rows_warnings(np.array([[10.15], [10.25], [-0.3]]), ("oil",))
    assert [len(w) for w in per_row] == [0, 1, 1]
