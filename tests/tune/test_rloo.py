"""RLOO, the policy gradient on every sample's critic score (tune/learn.py `rloo_epoch`, rounds.py `Tuner.groups`),
on a tiny model."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from tatumflow.model.checkpoint import Checkpoint, save_checkpoint
from tatumflow.model.tokenizer import Tokenizer
from tatumflow.tune.config import LOG, TINY, TuneConfig
from tatumflow.tune.heldout import harmony_measures, spread_measures
from tatumflow.tune.learn import (
    Group,
    _forward,
    _sequence_sum,
    frozen_copy,
    lane_diversity,
    lane_harmony,
    leave_one_out,
    rloo_epoch,
    standardised,
)
from tatumflow.tune.run import open_tuner, run_rounds
from tests.tiny import STYLES, tiny_model
from tests.tune.test_tune import music, tiny_data


def test_leave_one_out_baseline():
    """Each advantage is the reward minus the mean of the prompt's other rewards, scaled; they sum to 0."""
    adv = leave_one_out(np.array([1.0, 2.0, 3.0, 6.0]), 2.0)
    assert adv == pytest.approx([(1 - 11 / 3) / 2, (2 - 10 / 3) / 2, (3 - 3) / 2, (6 - 2) / 2])
    assert adv.sum() == pytest.approx(0.0)
    assert leave_one_out(np.array([5.0, 5.0]), 1.0) == pytest.approx([0.0, 0.0])


def test_lane_diversity_is_each_samples_mean_distance_to_its_prompts_others():
    """Over measures standardised across the round: two identical lanes and one apart; a measure undefined (NaN)
    everywhere counts nothing; a prompt whose lanes agree has diversity 0."""
    measures = np.array([[[0.0, np.nan], [0.0, np.nan], [3.0, np.nan]], [[1.0, np.nan]] * 3])
    div = lane_diversity(measures)
    z = (np.array([0.0, 0.0, 3.0]) - 5 / 6) / np.std([0, 0, 3, 1, 1, 1])
    assert div[0] == pytest.approx([(z[2] - z[0]) / 2, (z[2] - z[0]) / 2, z[2] - z[0]])
    assert div[1] == pytest.approx([0.0, 0.0, 0.0])
    assert standardised(np.array([1.0, 3.0])) == pytest.approx([-1.0, 1.0])


def test_lane_harmony_ranks_the_lane_that_follows_the_real_harmony_first():
    """A lane with the real continuation's own notes follows its harmony best (KL 0, cosine 1), the same a tritone
    away worse; the sum is of the two measures standardised over the round."""
    real = music(3, 4.0)
    away = [replace(n, pitch=n.pitch + 6) for n in real]
    measures = np.array([[harmony_measures(real, real), harmony_measures(real, away)]])
    assert measures[0, 0] == pytest.approx([0.0, 1.0])
    assert measures[0, 1, 0] < 0 and measures[0, 1, 1] < 1
    assert lane_harmony(measures)[0] == pytest.approx([2.0, -2.0])  # each measure standardised to +-1


def test_with_diversity_and_harmony_an_rloo_reward_adds_both(tmp_path):
    """`diversity`, `harmony`: the rewards are the critic's, the lanes' texture diversity and how closely they
    follow his real continuation's harmony, each standardised over the round, the latter two so weighted; the round
    logs the mean diversity and harmony measures."""
    base = tmp_path / "base"
    save_checkpoint(base, Checkpoint(tiny_model(context_steps=256), Tokenizer(), STYLES))
    cfg = replace(TINY, objective="rloo", diversity=2.0, harmony=0.5)
    tuner = open_tuner(tmp_path / "state", base, cfg, tiny_data)
    run_rounds(tuner, rounds=1)
    groups, stats = tuner.groups(1)
    samples, _, scores = tuner._ranked(1)
    pairs = [(p, n) for p, lanes in zip(samples.prompts, samples.generated) for n in lanes]
    shape = scores.shape
    measures = np.array([spread_measures(n, p.start_s + cfg.continue_seconds) for p, n in pairs]).reshape(*shape, -1)
    harmony = np.array([harmony_measures(p.real, n) for p, n in pairs]).reshape(*shape, 2)
    expected = (standardised(-scores) + 2.0 * standardised(lane_diversity(measures))
                + 0.5 * standardised(lane_harmony(harmony)))
    assert np.concatenate([g.rewards for g in groups]) == pytest.approx(expected.ravel(), abs=1e-5)
    assert stats["pg_lane_diversity"] == pytest.approx(lane_diversity(measures).mean())
    assert stats["pg_pitch_class_kl"] == pytest.approx(-harmony[..., 0].mean())
    for name in ("diversity", "harmony"):
        with pytest.raises(ValueError, match=name):
            TuneConfig(objective="rloo", **{name: -1.0})
        with pytest.raises(ValueError, match="objective rloo"):
            TuneConfig(**{name: 1.0})  # DPO has no per-sample reward to add it to


def _group(tok: Tokenizer, rewards: list[float]) -> Group:
    head = tok.steps_after(None, music(1, 2.0))
    return Group(head, [tok.steps_after(None, music(2 + i, 1.0)) for i in range(len(rewards))], np.array(rewards))


def _per_step(model, group: Group) -> np.ndarray:
    with torch.no_grad():
        steps, mask, logps = _forward(model, 1, [group.prompt] * len(group.samples), group.samples)
        return (_sequence_sum(steps, mask, logps) / mask.sum(dim=1)).numpy()


def test_rloo_raises_the_rewarded_sample_and_leaves_equal_rewards_alone():
    """The sample the critic rewards gains log-probability per step against the one it does not; a prompt whose
    samples are rewarded alike moves nothing (its advantages are 0), and the anchor's KL is logged from 0."""
    tok = Tokenizer()
    torch.manual_seed(0)
    model = tiny_model(context_steps=256)
    group = _group(tok, [2.0, -2.0])
    before = _per_step(model, group)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    gen = torch.Generator().manual_seed(0)
    first = rloo_epoch(model, 1, [group], optimizer, gen, anchor=(frozen_copy(model), 1.0))
    assert first["pg_anchor_kl"] == pytest.approx(0.0, abs=1e-6)
    assert first["pg_advantage"] == pytest.approx(2.0)  # (2 - -2) / the rewards' spread, 2
    for _ in range(5):
        rloo_epoch(model, 1, [group], optimizer, gen)
    after = _per_step(model, group)
    assert after[0] - before[0] > after[1] - before[1]

    still = tiny_model(context_steps=256)
    start = {k: v.clone() for k, v in still.state_dict().items()}
    optimizer = torch.optim.AdamW(still.parameters(), lr=3e-3, weight_decay=0.0)
    stats = rloo_epoch(still, 1, [_group(tok, [0.5, 0.5, 0.5])], optimizer, gen)
    assert stats["pg_loss"] == pytest.approx(0.0, abs=1e-9)
    assert all(torch.equal(start[k], v) for k, v in still.state_dict().items())


def test_an_rloo_round_scores_every_lane_and_logs_its_step(tmp_path):
    """`objective="rloo"`: a round's groups hold every lane of each fresh prompt, their rewards minus the critic's
    log-odds that the lane is generated; the round logs the policy gradient's step instead of DPO's."""
    base = tmp_path / "base"
    save_checkpoint(base, Checkpoint(tiny_model(context_steps=256), Tokenizer(), STYLES))
    tuner = open_tuner(tmp_path / "state", base, replace(TINY, objective="rloo", anchor_kl=1.0), tiny_data)
    run_rounds(tuner, rounds=1)
    groups, stats = tuner.groups(1)
    assert groups and all(len(g.samples) == TINY.samples_per_prompt for g in groups)
    samples, steps, scores = tuner._ranked(1)
    assert [len(s) for s in groups[0].samples] == [len(s) for s in steps[0]]
    assert groups[0].rewards == pytest.approx(-scores[0])
    assert scores.shape == (len(samples.prompts), TINY.samples_per_prompt)
    assert stats["pg_critic_reward"] == pytest.approx(-scores.mean()) and "pg_lane_diversity" not in stats
    run_rounds(tuner, rounds=1)
    records = [json.loads(line) for line in (tmp_path / "state" / LOG).read_text().splitlines()]
    assert records[1]["groups"] >= 1 and "pg_loss" in records[1] and "dpo_loss" not in records[1]
    assert records[1]["pg_anchor_kl"] >= 0
    with pytest.raises(ValueError, match="objective"):
        TuneConfig(objective="ppo")


def test_the_judge_reports_how_the_samples_follow_the_harmony():
    """`pitch_class_kl` and `pctm_cosine` of each sample against Tatum's real continuation: a sample that is his
    continuation scores KL ~0 and cosine 1; one transposed a tritone away scores worse on both."""
    from tatumflow.notes import Note
    from tatumflow.tune.heldout import Samples, judge

    prompts = tiny_data(TINY, 0.01).heldout
    same = judge(Samples(prompts, [[p.real, p.real] for p in prompts]), Tokenizer(), TINY.continue_seconds, None, None)
    assert same["pitch_class_kl"] == pytest.approx(0.0, abs=1e-6) and same["pctm_cosine"] == pytest.approx(1.0)
    moved = [[[Note(n.onset_s, n.duration_s, n.pitch + 6, n.velocity) for n in p.real]] * 2 for p in prompts]
    away = judge(Samples(prompts, moved), Tokenizer(), TINY.continue_seconds, None, None)
    assert away["pitch_class_kl"] > 0.1 and away["pctm_cosine"] < same["pctm_cosine"]


def test_a_round_is_also_judged_through_the_preset(tmp_path):
    """Each held-out prompt is also continued as the engine plays the network (the `tatum` preset, in windows, the
    prompt's own seeds), with and without the style token: its harmony measures are logged beside the judge's."""
    from tatumflow.eval.evaluate import no_style
    from tatumflow.eval.metrics import pctm_cosine, pitch_class_kl
    from tatumflow.eval.prompts import pair_seed
    from tatumflow.generate.continuation import continue_notes
    from tatumflow.generate.load import load_generator
    from tatumflow.generate.window import Window
    from tatumflow.model.checkpoint import load_checkpoint
    from tatumflow.presets import load_preset
    from tatumflow.tune.heldout import through_preset

    base = tmp_path / "base"
    save_checkpoint(base, Checkpoint(tiny_model(context_steps=256), Tokenizer(), STYLES))
    tuner = open_tuner(tmp_path / "state", base, TINY, tiny_data)
    run_rounds(tuner, rounds=1)
    record = json.loads((tmp_path / "state" / LOG).read_text().splitlines()[0])
    assert all(np.isfinite(record[f"{s}_{k}"]) for s in ("preset", "preset_no_style")
               for k in ("pitch_class_kl", "pctm_cosine", "duration_mean_s"))

    prompt = tuner.data.heldout[0]
    out = through_preset(load_checkpoint(base), [prompt], TINY.continue_seconds, 1, None)
    controls = load_preset("tatum").controls
    for name, c in (("preset", controls), ("preset_no_style", no_style(controls))):
        notes = continue_notes(load_generator(base), prompt.prompt, TINY.continue_seconds, c,
                               Window(seed=pair_seed(prompt.prompt, 0)))
        assert out[f"{name}_pitch_class_kl"] == pytest.approx(pitch_class_kl(prompt.real, notes))
        assert out[f"{name}_pctm_cosine"] == pytest.approx(pctm_cosine(prompt.real, notes))
