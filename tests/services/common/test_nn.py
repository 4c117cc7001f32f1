from __future__ import annotations

import pytest
import torch

from hiermusic.services.common.nn import KVCache, Transformer, TransformerConfig, draw, sample, sampling_probs


@pytest.mark.parametrize("capacity", [None, 10])
def test_cached_decoding_matches_full_causal_pass(capacity):
    torch.manual_seed(0)
    model = Transformer(TransformerConfig(dim=32, layers=3, heads=4, max_len=64)).eval()
    x, memory = torch.randn(1, 10, 32), torch.randn(1, 5, 32)
    full = model(x, memory)
    cache = KVCache(capacity)
    steps = [model(x[:, :4], memory, cache=cache)] + [model(x[:, t : t + 1], memory, cache=cache) for t in range(4, 10)]
    assert torch.allclose(torch.cat(steps, dim=1), full, atol=1e-5)
    assert cache.length == 10
    if capacity is not None:
        with pytest.raises(ValueError, match="cannot take 11"):
            model(x[:, :1], memory, cache=cache)


def test_sampling_respects_top_k_and_seed():
    logits = torch.tensor([[0.0, 5.0, 4.0, -1.0]])
    draws = {int(sample(logits, 1.0, 2, torch.Generator().manual_seed(s))) for s in range(50)}
    assert draws <= {1, 2}
    a = sample(logits.repeat(20, 1), 1.0, 0, torch.Generator().manual_seed(3))
    b = sample(logits.repeat(20, 1), 1.0, 0, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert int(sample(logits, 0.0, 0, None)) == 1


def test_sampling_probs_are_what_sample_draws_from():
    logits = torch.tensor([[0.0, 5.0, 4.0, -1.0]]).repeat(30, 1)
    probs = sampling_probs(logits, 0.7, 2)
    assert torch.allclose(probs.sum(-1), torch.ones(30))
    assert torch.all(probs[:, [0, 3]] == 0) and torch.all(probs[:, 1] > probs[:, 2])  # top 2, sharpened by 0.7
    assert torch.allclose(probs[0, 1] / probs[0, 2], torch.exp(torch.tensor(1 / 0.7)))
    assert torch.equal(draw(probs, torch.Generator().manual_seed(4)), sample(logits, 0.7, 2, torch.Generator().manual_seed(4)))
    assert torch.equal(sampling_probs(logits, 0.0, 0), torch.nn.functional.one_hot(torch.ones(30, dtype=torch.long), 4).float())
