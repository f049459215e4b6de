"""Row sampling for the repetition measurement."""

from __future__ import annotations

import numpy as np
import torch

import frivolous as fv
from conftest import conv_net
from frivolous.measuring.samples import RowSampler, as_rows


def numbered(examples: int, start: int, channels: int = 3, positions: int = 4) -> torch.Tensor:
    """An activation whose channel 0 holds each row's global index."""
    ids = torch.arange(start * positions, (start + examples) * positions, dtype=torch.float32)
    grid = ids.view(examples, 1, positions).repeat(1, channels, 1)
    grid[:, 1:] *= -1
    return grid.view(examples, channels, 2, 2)


def test_rows_are_example_position_pairs() -> None:
    activation = torch.arange(2 * 3 * 4, dtype=torch.float32).view(2, 3, 2, 2)
    rows = as_rows(activation)
    assert rows.shape == (8, 3)
    assert torch.equal(rows[5], activation[1, :, 0, 1])
    assert torch.equal(as_rows(activation, torch.tensor([5, 0])), rows[[5, 0]])
    assert torch.equal(as_rows(torch.ones(4, 7)), torch.ones(4, 7))


def feed(sampler: RowSampler, batches: int = 5, size: int = 10) -> None:
    for b in range(batches):
        sampler.add(numbered(size, b * size))


def test_draws_without_replacement_up_to_the_capacity() -> None:
    sampler = RowSampler(capacity=70, samplings=3, seed=0, layer="x")
    feed(sampler)  # 200 rows
    assert not sampler.shared and sampler.seen == 200
    drawn = sampler.samples()
    assert len(drawn) == 3
    for rows in drawn:
        ids = rows[:, 0].long()
        assert len(ids) == 70 and len(set(ids.tolist())) == 70
        assert torch.equal(rows[:, 1], -rows[:, 0])  # rows stay whole
    assert not torch.equal(drawn[0][:, 0].sort().values, drawn[1][:, 0].sort().values)


def test_all_rows_kept_and_shared_when_they_fit() -> None:
    sampler = RowSampler(capacity=500, samplings=3, seed=0, layer="x")
    feed(sampler)
    assert sampler.shared
    (rows,) = sampler.samples()
    assert torch.equal(rows[:, 0], torch.arange(200, dtype=torch.float32))


def test_each_row_is_equally_likely() -> None:
    hits = np.zeros(200)
    for seed in range(300):
        sampler = RowSampler(capacity=50, samplings=1, seed=seed, layer="x")
        feed(sampler)
        hits[sampler.samples()[0][:, 0].long().numpy()] += 1
    expected = 300 * 50 / 200
    # each count is Binomial(300, 1/4): mean 75, sd 7.5
    assert abs(hits.mean() - expected) < 1e-9
    assert hits.min() > expected - 5 * 7.5 and hits.max() < expected + 5 * 7.5
    first_batch, last_batch = hits[:40].mean(), hits[-40:].mean()
    assert abs(first_batch - last_batch) < 6


def test_seeded_and_independent_of_layer_order() -> None:
    a = RowSampler(capacity=30, samplings=2, seed=1, layer="x")
    b = RowSampler(capacity=30, samplings=2, seed=1, layer="x")
    feed(a)
    feed(b)
    assert all(torch.equal(p, q) for p, q in zip(a.samples(), b.samples()))


def test_max_samples_caps_the_rows_of_a_conv_layer(images: torch.Tensor) -> None:
    result = fv.measure(conv_net(), images, max_samples=100, samplings=2)
    layer = result.layers["relu1"]  # 40 examples x 64 positions = 2560 rows
    assert [s.samples for s in layer.similarities] == [100, 100]
    everything = fv.measure(conv_net(), images, max_samples=10_000, samplings=2)
    assert [s.samples for s in everything.layers["relu1"].similarities] == [2560, 2560]
    assert everything.layers["relu1"].channels == 6
    assert len(everything.layers["relu1"].similarities[0].counts) == 6


def test_conv_similarity_equals_brute_force_on_all_positions(images: torch.Tensor) -> None:
    model = conv_net()
    result = fv.measure(model, images, max_samples=10_000, samplings=1, layers=["relu1"])
    captured = []
    handle = model.relu1.register_forward_hook(lambda _m, _a, out: captured.append(out.detach().clone()))
    with torch.no_grad():
        model.eval()(images)
    handle.remove()
    rows = captured[0].permute(0, 2, 3, 1).reshape(-1, 6).double().numpy()
    r = np.abs(np.corrcoef(rows, rowvar=False))
    expected = (r >= 0.5).sum(1) - 1
    np.testing.assert_array_equal(result.layers["relu1"].similarities[0].counts, expected)
