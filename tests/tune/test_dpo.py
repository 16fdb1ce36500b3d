"""DPO's objective (tune/learn.py): the chosen side's NLL (`sft_weight`), log-ratios per step (`per_step`) and the
anchor KL to a frozen reference (`anchor_kl`), on a tiny model."""

import numpy as np
import pytest
import torch

from tatumflow.model.tokenizer import Tokenizer
from tatumflow.tune.config import TuneConfig
from tatumflow.tune.learn import sequence_logprob
from tests.tiny import tiny_model
from tests.tune.test_tune import music


@pytest.mark.parametrize("weight", [0.0, 3.0])
def test_dpo_loss_adds_the_chosen_sides_nll_per_step_when_weighted(weight):
    """`sft_weight`: the first step's loss is DPO's -log sigmoid(0) (the reference is the model itself) plus the
    weight times the chosen continuation's NLL per step, as computed apart; the NLL is reported either way."""
    from tatumflow.tune.learn import Pair, dpo_epoch, reference_logprobs

    torch.manual_seed(0)
    model, tok = tiny_model(context_steps=256), Tokenizer()
    head = tok.steps_after(None, music(1, 2.0))
    chosen, rejected = tok.steps_after(None, music(2, 1.0)), tok.steps_after(None, music(3, 1.0))
    pair = Pair(head, chosen, rejected)
    reference_logprobs(model, 1, [pair])
    nll = -pair.ref_chosen / len(chosen)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    stats = dpo_epoch(model, 1, [pair], optimizer, 0.1, torch.Generator().manual_seed(0), sft_weight=weight)
    model.eval()
    assert stats["dpo_chosen_nll"] == pytest.approx(nll, rel=1e-4)
    assert stats["dpo_loss"] == pytest.approx(np.log(2) + weight * nll, rel=1e-4)
    with pytest.raises(ValueError, match="sft_weight"):
        TuneConfig(sft_weight=-1.0)


@pytest.mark.parametrize("per_step", [False, True])
def test_dpo_margin_is_of_sums_or_of_means_per_step(per_step):
    """`per_step`: each side's log-ratio to the reference divided by its number of steps before they are compared."""
    from tatumflow.tune.learn import Pair, dpo_epoch, reference_logprobs

    torch.manual_seed(0)
    model, tok = tiny_model(context_steps=256), Tokenizer()
    head = tok.steps_after(None, music(1, 2.0))
    pair = Pair(head, tok.steps_after(None, music(2, 1.0)), tok.steps_after(None, music(3, 2.0)))
    assert len(pair.chosen) != len(pair.rejected)
    reference_logprobs(model, 1, [pair])
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    dpo_epoch(model, 1, [pair], optimizer, 0.1, torch.Generator().manual_seed(0), per_step=per_step)
    with torch.no_grad():
        lp = sequence_logprob(model, 1, [head] * 2, [pair.chosen, pair.rejected])
    n = (len(pair.chosen), len(pair.rejected)) if per_step else (1, 1)
    expected = 0.1 * ((float(lp[0]) - pair.ref_chosen) / n[0] - (float(lp[1]) - pair.ref_rejected) / n[1])
    stats = dpo_epoch(model, 1, [pair], optimizer, 0.1, torch.Generator().manual_seed(0), per_step=per_step)
    assert expected != 0 and stats["dpo_margin"] == pytest.approx(expected, rel=1e-3)


def test_anchor_kl_holds_each_steps_distribution_near_the_reference():
    """`anchor_kl`: KL(reference || model) over the continuations' steps is 0 at the start (the reference is the model
    as it was) and, weighted, keeps the tuned model nearer the reference than DPO alone does."""
    from tatumflow.tune.learn import Pair, _forward, anchor_kl, dpo_epoch, frozen_copy, reference_logprobs

    tok = Tokenizer()
    head = tok.steps_after(None, music(1, 2.0))
    sides = ([head] * 2, [tok.steps_after(None, music(2, 1.0)), tok.steps_after(None, music(3, 1.0))])
    kls = {}
    for weight in (0.0, 50.0):
        torch.manual_seed(0)
        model = tiny_model(context_steps=256)
        ref = frozen_copy(model)
        pair = Pair(head, sides[1][0], sides[1][1])
        reference_logprobs(model, 1, [pair])
        optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
        gen = torch.Generator().manual_seed(0)
        first = dpo_epoch(model, 1, [pair], optimizer, 0.1, gen, anchor=(ref, weight) if weight else None)
        for _ in range(7):
            dpo_epoch(model, 1, [pair], optimizer, 0.1, gen, anchor=(ref, weight) if weight else None)
        with torch.no_grad():
            _, mask, logps = _forward(model, 1, *sides)
            kls[weight] = float(anchor_kl(logps, _forward(ref, 1, *sides)[2], mask))
        assert ("dpo_anchor_kl" in first) == bool(weight)
        if weight:
            assert first["dpo_anchor_kl"] == pytest.approx(0.0, abs=1e-6)
    assert 0 <= kls[50.0] < 0.5 * kls[0.0]
    assert list(ref.parameters())[0].requires_grad is False
    with pytest.raises(ValueError, match="anchor_kl"):
        TuneConfig(anchor_kl=-1.0)
