"""The transformers backend's sampler on synthetic logits (no model): candidate cuts, draws, batching."""

from __future__ import annotations

import torch

from chuk_lazarus.backends.transformers.sampler import SequenceSampler, _nucleus, sample_rows
from chuk_lazarus.core.types import SamplingParams

VOCAB = 5000


def sampler(**params: object) -> SequenceSampler:
    return SequenceSampler(SamplingParams(**params))


def reference_nucleus(logits: torch.Tensor, top_p: float) -> set[int]:
    """The whole-vocabulary sort the candidate version replaces."""
    probs, order = torch.sort(torch.softmax(logits, dim=-1), descending=True)
    drop = (probs.cumsum(dim=-1) - probs) >= top_p
    return set(order[~drop].tolist())


def test_nucleus_keeps_the_same_tokens_as_a_full_sort() -> None:
    generator = torch.Generator().manual_seed(0)
    for scale in (0.5, 2.0, 8.0):  # flat to peaked distributions: small and large nuclei
        logits = torch.randn(VOCAB, generator=generator) * scale
        for top_p in (0.1, 0.5, 0.9, 0.99):
            _, ids = _nucleus(logits, None, top_p)
            assert set(ids.tolist()) == reference_nucleus(logits, top_p), (scale, top_p)


def test_nucleus_after_top_k_cuts_within_the_candidates() -> None:
    logits = torch.randn(VOCAB, generator=torch.Generator().manual_seed(1)) * 3
    values, ids = torch.topk(logits, 40)
    masked = torch.full_like(logits, float("-inf"))
    masked[ids] = values
    _, kept = _nucleus(values, ids, 0.8)
    assert set(kept.tolist()) == reference_nucleus(masked, 0.8)


def test_draws_follow_the_distribution_and_skip_banned_tokens() -> None:
    logits = torch.full((VOCAB,), float("-inf"))
    logits[[7, 11, 13]] = torch.log(torch.tensor([0.5, 0.3, 0.2]))
    s = sampler(temperature=1.0, seed=3)
    counts = {7: 0, 11: 0, 13: 0}
    for _ in range(4000):
        token, _ = s.sample(logits, None)
        counts[token] += 1  # a KeyError here would be a banned token drawn
    assert abs(counts[7] / 4000 - 0.5) < 0.03
    assert abs(counts[11] / 4000 - 0.3) < 0.03
    assert abs(counts[13] / 4000 - 0.2) < 0.03


def test_top_k_min_p_and_top_p_only_draw_survivors() -> None:
    logits = torch.randn(VOCAB, generator=torch.Generator().manual_seed(2)) * 4
    top5 = set(torch.topk(logits, 5).indices.tolist())
    probs = torch.softmax(logits, dim=-1)
    above = set((probs >= 0.2 * probs.max()).nonzero().squeeze(1).tolist())
    nucleus = reference_nucleus(logits, 0.5)
    for params, allowed in (
        ({"top_k": 5}, top5),
        ({"min_p": 0.2}, above),
        ({"top_p": 0.5}, nucleus),
    ):
        s = sampler(temperature=1.5, seed=4, **params)
        drawn = {s.sample(logits, None)[0] for _ in range(300)}
        assert drawn <= allowed, params


def test_a_seeded_row_draws_the_same_whatever_else_is_in_the_batch() -> None:
    steps = torch.randn(10, 3, VOCAB, generator=torch.Generator().manual_seed(5))
    solo = sampler(temperature=0.9, seed=42)
    alone = [sample_rows([solo], logits[:1], [None])[0][0] for logits in steps]
    seeded = sampler(temperature=0.9, seed=42)
    others = [sampler(temperature=0.0), sampler(temperature=1.0, seed=1, logit_bias={0: 5.0})]
    batched = [sample_rows([seeded, *others], logits, [None, None, None]) for logits in steps]
    assert [picks[0][0] for picks in batched] == alone
    assert len(set(alone)) > 1  # really sampled, not a constant
    assert [picks[1][0] for picks in batched] == torch.argmax(steps[:, 1], dim=-1).tolist()


def test_batched_greedy_matches_per_row_and_reports_logprobs() -> None:
    logits = torch.randn(4, VOCAB, generator=torch.Generator().manual_seed(6))
    samplers = [sampler(temperature=0.0) for _ in range(4)]
    picks = sample_rows(samplers, logits, [None, 2, None, 0])
    assert [t for t, _ in picks] == torch.argmax(logits, dim=-1).tolist()
    assert picks[0][1] is None
    logprob = picks[1][1]
    assert logprob is not None and len(logprob.top) == 2
    expected = float(torch.log_softmax(logits[1].double(), dim=-1).max())
    assert abs(logprob.logprob - expected) < 1e-9
    assert list(samplers[1].recent) == [picks[1][0]]  # the penalty window saw the token


def test_penalised_greedy_row_is_not_the_plain_argmax() -> None:
    logits = torch.zeros(VOCAB)
    logits[9] = 1.0
    logits[10] = 0.9
    s = sampler(temperature=0.0, repeat_penalty=2.0)
    assert not s.plain
    first = sample_rows([s], logits.unsqueeze(0), [None])[0][0]
    second = sample_rows([s], logits.unsqueeze(0), [None])[0][0]
    assert (first, second) == (9, 10)  # 9 is penalised after it was sampled once
