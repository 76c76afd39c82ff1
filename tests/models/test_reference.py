"""Training references and the population stability index against them."""

from __future__ import annotations

import numpy as np
import pytest

from pumpapi.models import reference


@pytest.fixture
def normal_reference():
    values = np.random.default_rng(1).normal(4.5, 0.5, 50_000)
    return reference.build({"oil": values})["inputs"]["oil"]


def test_bins_hold_a_tenth_of_the_training_values_each(normal_reference):
    assert len(normal_reference["edges"]) == 9
    assert normal_reference["fractions"] == pytest.approx([0.1] * 10, abs=0.002)
    assert sum(normal_reference["fractions"]) == pytest.approx(1.0)
    low, high = normal_reference["range"]
    assert 2.5 < low < 3.2 and 5.8 < high < 6.5


def test_ties_merge_bins_and_keep_their_share():
    # A fleet that is stopped 60 % of the time: 0 rpm fills six deciles at once.
    values = np.concatenate([np.zeros(6_000), np.linspace(1500, 1900, 4_000)])
    ref = reference.build({"rpm": values})["inputs"]["rpm"]
    assert ref["edges"][0] == 0.0 and len(ref["edges"]) == len(set(ref["edges"]))
    assert ref["fractions"][1] == pytest.approx(0.6, abs=0.01)  # the bin [0, next edge)
    assert reference.compare(ref, values)["psi"] == pytest.approx(0.0, abs=1e-6)


def test_the_same_distribution_is_stable_and_a_shift_is_significant(normal_reference):
    rng = np.random.default_rng(2)
    same = reference.compare(normal_reference, rng.normal(4.5, 0.5, 5_000))
    assert same["psi"] < 0.02 and same["reading"] == "stable"
    moderate = reference.compare(normal_reference, rng.normal(4.75, 0.5, 5_000))
    assert 0.1 <= moderate["psi"] < 0.4
    shifted = reference.compare(normal_reference, rng.normal(3.0, 0.5, 5_000))
    assert shifted["psi"] > 0.25 and shifted["reading"] == "significant"
    # Everything below the first edge: the first bin holds it all.
    assert shifted["bins"][0]["observed"] > 0.9 and shifted["bins"][0]["low"] is None
    assert shifted["observations"] == 5_000


def test_no_recent_value_gives_no_psi(normal_reference):
    empty = reference.compare(normal_reference, np.array([np.nan]))
    assert empty["psi"] is None and empty["reading"] is None and empty["observations"] == 0


@pytest.mark.parametrize(
    ("psi", "words"), [(0.0, "stable"), (0.099, "stable"), (0.1, "moderate"), (0.3, "significant")]
)
def test_the_usual_reading(psi, words):
    assert reference.reading(psi) == words
