"""Known answers: the constructions of the paper's Section 2.3.

From a small network S, each L is twice as wide and computes the same
function; the measurements must move relative to S as the paper argues."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import frivolous as fv
from conftest import seeded
from frivolous.constructions import duplicated, independent, offset, silent, small_network

HIDDEN = 24


@pytest.fixture(scope="module")
def setting():
    small = small_network(hidden=HIDDEN, input_dim=HIDDEN + 4, signal_dim=4, seed=1)
    inputs = torch.randn(1500, HIDDEN + 4, generator=seeded(7))
    return small, inputs


def measure(model, inputs, layers=("hidden",), **kwargs):
    return fv.measure(model, inputs, list(layers), all_layers=False, device="cpu", **kwargs)


def counts(result, layer="hidden"):
    return result.layers[layer].similarities[0].counts


def test_every_construction_computes_the_same_function(setting) -> None:
    small, inputs = setting
    with torch.no_grad():
        expected = small(inputs)
        for wide in (duplicated(small), independent(small), silent(small), offset(small)):
            torch.testing.assert_close(wide(inputs), expected, rtol=1e-4, atol=1e-4)


def test_duplicated_units_double_plus_one(setting) -> None:
    """[u,u] with [w,0]: each unit's count becomes 2*count+1, exactly."""
    small, inputs = setting
    s = measure(small, inputs)
    wide = measure(duplicated(small), inputs)
    assert s.layers["hidden"].similarity > 1  # S itself has repeated units to double
    np.testing.assert_array_equal(counts(wide), np.tile(2 * counts(s) + 1, 2))
    assert wide.layers["hidden"].similarity == 2 * s.layers["hidden"].similarity + 1
    # and the added half, whose outgoing weights are zero, is perfectly removable
    half = measure(duplicated(small), inputs, layers=("hidden.second",))
    assert half.layers["hidden.second"].auc == 1.0


def test_independent_units_add_no_repeats(setting) -> None:
    """[u,v] with [w,0]: v repeats nothing, so the mean count halves."""
    small, inputs = setting
    s = measure(small, inputs)
    wide = measure(independent(small), inputs, layers=("hidden", "hidden.second"))
    layer = counts(wide)
    np.testing.assert_array_equal(layer[:HIDDEN], counts(s))
    np.testing.assert_array_equal(layer[HIDDEN:], 0)
    assert wide.layers["hidden"].similarity == pytest.approx(s.layers["hidden"].similarity / 2)
    assert wide.layers["hidden.second"].auc == 1.0


def test_silent_units_are_dead_and_removable(setting) -> None:
    """[u,0] with [w,0]: the added units are dead; left out, or -1 each (legacy)."""
    small, inputs = setting
    s = measure(small, inputs)
    wide = measure(silent(small), inputs, layers=("hidden", "hidden.second"))
    layer = wide.layers["hidden"]
    assert layer.dead == HIDDEN
    assert layer.similarity == s.layers["hidden"].similarity
    legacy = measure(silent(small), inputs, dead="legacy")
    expected = (counts(s).sum() - HIDDEN) / (2 * HIDDEN)
    assert legacy.layers["hidden"].similarity == pytest.approx(expected)
    assert wide.layers["hidden.second"].auc == 1.0


def test_offset_weights_repeat_without_removability(setting) -> None:
    """[u,u] with [w/2+eta, w/2-eta], eta differing per output: repeated, not removable."""
    small, inputs = setting
    s = measure(small, inputs, samplings=10)
    wide = measure(offset(small, eta=20.0), inputs, layers=("hidden", "hidden.second"), samplings=10)
    assert wide.layers["hidden"].similarity == 2 * s.layers["hidden"].similarity + 1
    assert wide.layers["hidden"].auc < s.layers["hidden"].auc - 0.2
    # unlike the [w,0] constructions, the added half is not removable either; how far it
    # falls depends on how many examples S already gives the class the shift favours
    assert wide.layers["hidden.second"].auc < 0.95


def test_one_eta_for_every_output_cancels(setting) -> None:
    """With the same eta for every output, removing a unit shifts every logit
    alike and the arg-max ignores it: the construction is then as removable as S."""
    small, inputs = setting
    same_eta = offset(small, eta=20.0)
    with torch.no_grad():
        w2 = small.out.weight
        same_eta.out.weight.copy_(torch.cat([w2 / 2 + 20.0, w2 / 2 - 20.0], 1))
    s = measure(small, inputs, samplings=10)
    wide = measure(same_eta, inputs, samplings=10)
    assert wide.layers["hidden"].auc > s.layers["hidden"].auc - 0.1
