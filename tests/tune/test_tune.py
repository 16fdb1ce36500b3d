"""Preference tuning: the batched sampler, the critic, the pianist classifier, DPO's log-probabilities, and the
rounds end to end with a tiny model (resumed from the state folder)."""

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from tatumflow.cli import app
from tatumflow.eval.critic import Critic, CriticConfig, critic_scores, critic_steps, load_critic, save_critic
from tatumflow.eval.discriminator import roc_auc
from tatumflow.eval.pianist import fit_pianists, load_pianist, pianist_features, save_pianist
from tatumflow.eval.prompts import prompt_splits
from tatumflow.model.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from tatumflow.model.tokenizer import Tokenizer
from tatumflow.notes import Note
from tatumflow.tune.config import LOG, TINY, TuneConfig, load_state
from tatumflow.tune.heldout import Prompt
from tatumflow.tune.learn import sequence_logprob, train_critic
from tatumflow.tune.rounds import TuneData
from tatumflow.tune.run import guards, open_tuner, run_rounds
from tatumflow.tune.sampler import SampleConfig, continue_lanes
from tests.tiny import STYLES, tiny_model


def music(seed: int, seconds: float = 20.0, low: int = 48, chord: int = 3) -> list[Note]:
    rng = np.random.default_rng(seed)
    notes, t = [], 0.0
    while t < seconds:
        for k in range(rng.integers(1, chord + 1)):
            notes.append(Note(round(t, 3), float(rng.uniform(0.1, 0.5)), int(low + rng.integers(0, 24) + k),
                              int(rng.integers(40, 90))))
        t += float(rng.uniform(0.1, 0.3))
    return notes


def test_lanes_are_independent_reproducible_and_keep_the_rules():
    model, tok = tiny_model(context_steps=256), Tokenizer()
    prompt = music(0, 4.0)
    cfg = SampleConfig(seconds=2.0, prompt_steps=100, max_notes=120)
    a = continue_lanes(model, tok, 1, prompt, 3, cfg, torch.Generator().manual_seed(5))
    b = continue_lanes(model, tok, 1, prompt, 3, cfg, torch.Generator().manual_seed(5))
    assert [c.notes for c in a] == [c.notes for c in b]
    assert a[0].notes != a[1].notes
    start = round(max(n.onset_s for n in prompt) / 0.01) * 0.01 + 0.01
    for c in a:
        assert c.notes and len(c.notes) == len(c.steps)
        assert all(start - 1e-6 <= n.onset_s < start + 2.0 for n in c.notes)
        keys = [(round(n.onset_s / 0.01), n.pitch) for n in c.notes]
        assert len(keys) == len(set(keys))  # never a pitch struck twice at one onset


def test_sequence_logprob_padded_batch_equals_one_at_a_time():
    model, tok = tiny_model(context_steps=256), Tokenizer()
    head = tok.steps_after(None, music(1, 2.0))
    conts = [tok.steps_after(None, music(2, 1.0)), tok.steps_after(None, music(3, 2.0))]
    with torch.no_grad():
        both = sequence_logprob(model, 1, [head, head], conts)
        single = [sequence_logprob(model, 1, [head], [c])[0] for c in conts]
    for i in range(len(conts)):
        assert float(both[i]) == pytest.approx(float(single[i]), rel=1e-5)
    assert float(both[0]) < 0


def critic_data(tok, cfg, n, low):
    return [critic_steps(tok, cfg, music(i, 4.0), [x.shifted(4.2) for x in music(100 + i, 2.0, low=low)], 4.2, 2.0)
            for i in range(n)]


def test_critic_learns_a_difference_and_loads_back_without_pickles(tmp_path):
    tok = Tokenizer()
    cfg = CriticConfig(embed_dim=32, d_model=16, n_layers=1, n_heads=2, prompt_steps=32, continuation_steps=32)
    critic = Critic(cfg)
    critic.copy_embeddings(tiny_model())
    real, fake = critic_data(tok, cfg, 8, 48), critic_data(tok, cfg, 8, 72)
    train_critic(critic, real, fake, epochs=12, lr=2e-2, gen=torch.Generator().manual_seed(0))
    test_real, test_fake = critic_data(tok, cfg, 6, 48), critic_data(tok, cfg, 6, 72)
    scores = critic_scores(critic, test_real + test_fake)
    assert roc_auc(scores, np.r_[np.zeros(6), np.ones(6)]) > 0.9
    save_critic(critic, tmp_path / "c", {"round": 0})
    again, meta = load_critic(tmp_path / "c")
    assert meta == {"round": 0}
    assert np.allclose(critic_scores(again, test_real), critic_scores(critic, test_real), atol=0.05)
    (tmp_path / "c" / "critic.json").write_text("{")
    with pytest.raises(ValueError, match="cannot load"):
        load_critic(tmp_path / "c")


def test_pianist_classifier_tells_two_textures_apart(tmp_path):
    x = [pianist_features(music(i, 15.0, chord=c), 15.0) for c in (1, 4) for i in range(12)]
    labels = ["A"] * 12 + ["B"] * 12
    clf = fit_pianists(np.array(x[::2]), labels[::2])
    assert clf.predict(np.array(x[1::2])) == labels[1::2]
    save_pianist(clf, tmp_path / "p")
    again = load_pianist(tmp_path / "p")
    assert again.share_of("B", np.array(x[1::2])) == pytest.approx(0.5)


def test_guards():
    base = {"nll_real": 10.0, "spread_ratio": 0.8, "fourgram_ratio": 1.0}
    cfg = TuneConfig()
    assert all(guards(base, base, cfg).values())
    worse = guards({"nll_real": 10.4, "spread_ratio": 0.7, "fourgram_ratio": 1.2}, base, cfg)
    assert worse == {"guard_nll": False, "guard_spread": False, "guard_fourgram": False}
    assert guards({"nll_real": 10.2, "spread_ratio": 0.95, "fourgram_ratio": 0.92}, base, cfg)["guard_spread"]


def tiny_data(cfg, grid):
    def prompts(seeds):
        out = []
        for s in seeds:
            for split in prompt_splits(music(s, 14.0), cfg.prompt_seconds, cfg.continue_seconds, grid,
                                       cfg.prompts_every_s):
                out.append(Prompt(f"rec{s}", split.prompt, split.real, split.start_s))
        return out
    return TuneData(prompts(range(4)), prompts(range(10, 12))[: cfg.heldout_prompts])


def test_rounds_run_and_resume_from_the_state_folder(tmp_path):
    base = tmp_path / "base"
    save_checkpoint(base, Checkpoint(tiny_model(context_steps=256), Tokenizer(), STYLES))
    folder = tmp_path / "state"
    tuner = open_tuner(folder, base, TINY, tiny_data)
    state = run_rounds(tuner, rounds=2)
    assert state.round == 1 and state.status == "running"
    records = [json.loads(line) for line in (folder / LOG).read_text().splitlines()]
    assert [r["round"] for r in records] == [0, 1]
    for key in ("critic_auc", "texture_auc", "nll_real", "spread_ratio", "fourgram_ratio", "guard_nll"):
        assert key in records[1]
    assert records[1]["pairs"] >= 1 and "dpo_loss" in records[1]
    start, tuned = load_checkpoint(base).model.state_dict(), load_checkpoint(folder / "policy").model.state_dict()
    if records[1]["kept"]:
        assert any(not torch.equal(start[k], tuned[k]) for k in start)
    resumed = open_tuner(folder, base, TINY, tiny_data)
    assert resumed.state.round == 1
    final = run_rounds(resumed)
    assert final.round == 2 or final.status.startswith("stopped")
    assert load_state(folder).status == final.status
    assert len((folder / LOG).read_text().splitlines()) == 3


@pytest.mark.parametrize("anchor_to", ["round", "start"])
def test_the_anchor_is_the_rounds_sampler_or_the_runs_start_model(tmp_path, anchor_to):
    """`anchor_to`: "round" freezes the model as it is when the round's DPO begins; "start" the run's base, however far
    the rounds have taken the policy since; and a round with the anchor logs its KL."""
    from dataclasses import replace

    base = tmp_path / "base"
    save_checkpoint(base, Checkpoint(tiny_model(context_steps=256), Tokenizer(), STYLES))
    tuner = open_tuner(tmp_path / "state", base, replace(TINY, anchor_kl=1.0, anchor_to=anchor_to), tiny_data)
    with torch.no_grad():
        for p in tuner.ckpt.model.parameters():
            p.add_(0.01)  # the policy, moved by earlier rounds
    anchor = tuner._anchor_model()
    expected = (load_checkpoint(base).model if anchor_to == "start" else tuner.ckpt.model).state_dict()
    got = anchor.state_dict()
    assert all(torch.equal(got[k], expected[k]) for k in expected)
    assert not any(p.requires_grad for p in anchor.parameters())
    assert anchor is not tuner.ckpt.model
    run_rounds(tuner, rounds=2)
    records = [json.loads(line) for line in (tmp_path / "state" / LOG).read_text().splitlines()]
    assert records[1]["dpo_anchor_kl"] >= 0
    with pytest.raises(ValueError, match="anchor_to"):
        TuneConfig(anchor_to="both")


def test_tune_cli_rejects_a_folder_that_is_not_pijama(tmp_path):
    result = CliRunner().invoke(app, ["tune", "--out", str(tmp_path / "s"), "--data", str(tmp_path)])
    assert result.exit_code == 2
    assert "kong" in result.output
    assert not (tmp_path / "s").exists()


def test_tatum_split_keeps_recordings_whole_and_the_report_split_out(tmp_path):
    from tatumflow.notes import write_midi
    from tatumflow.tune.splits import TUNING_TITLES, pijama_recordings, tatum_split

    titles = [*TUNING_TITLES, *(f"Other {i}" for i in range(15))]
    for t in titles:
        for transcription in ("kong", "hawthorne"):
            folder = tmp_path / transcription / "studio" / "Art Tatum" / "Album"
            folder.mkdir(parents=True, exist_ok=True)
            write_midi(folder / f"{t}.midi", music(0, 1.0))
    recordings = pijama_recordings(tmp_path, ("kong", "hawthorne"))
    assert len(recordings) == 20 and all(len(r.files) == 2 for r in recordings)
    train, tuning = tatum_split(recordings)
    assert len(train) == 15  # 5 held out (10 %, at least 5)
    assert {r.key for r in train}.isdisjoint(r.key for r in tuning)
    assert all(r.key.rsplit("/", 1)[1] in TUNING_TITLES for r in tuning)
    with pytest.raises(ValueError, match="PiJAMA"):
        pijama_recordings(tmp_path / "kong")


def test_a_stopped_round_zero_state_without_its_policy_resumes_from_the_base(tmp_path):
    import shutil

    from tatumflow.tune.config import save_state
    from tatumflow.tune.run import resume_stopped

    base = tmp_path / "base"
    save_checkpoint(base, Checkpoint(tiny_model(context_steps=256), Tokenizer(), STYLES))
    folder = tmp_path / "state"
    tuner = open_tuner(folder, base, TINY, tiny_data)
    run_rounds(tuner, rounds=1)
    shutil.rmtree(folder / "policy")  # round 0 leaves the model as it was: a copied state may omit it
    tuner.state.status = "stopped: a guard failed in round 1 (guard_spread)"
    save_state(folder, tuner.state)
    again = open_tuner(folder, "elsewhere", TINY, tiny_data)
    assert again.state.round == 0 and again.state.status.startswith("stopped")
    start = load_checkpoint(base).model.state_dict()
    assert all(torch.equal(start[k], v) for k, v in again.ckpt.model.state_dict().items())
    assert run_rounds(again).round == 0  # a stopped run does not go on by itself
    resume_stopped(again)
    assert again.state.status == "running"


def test_real_pairs_prefer_tatums_own_continuation(tmp_path):
    """`chosen="real"`: every pair's preferred side is the prompt's real continuation, tokenized after the prompt
    as the model reads it (the steps real_nll scores), and its rejected side one of the model's samples."""
    from dataclasses import replace

    base = tmp_path / "base"
    save_checkpoint(base, Checkpoint(tiny_model(context_steps=256), Tokenizer(), STYLES))
    tuner = open_tuner(tmp_path / "state", base, replace(TINY, chosen="real"), tiny_data)
    pairs = tuner.pairs(1)
    assert pairs
    for pair in pairs:
        prompt = next(p for p in tuner.data.train if np.array_equal(tuner._real_steps(p)[0], pair.prompt))
        real_notes = sorted(prompt.real, key=lambda n: (n.onset_s, n.pitch))[: tuner.sample_cfg.max_notes]
        assert [int(s[1]) + 21 for s in pair.chosen] == [n.pitch for n in real_notes]  # his notes, in order
        assert not np.array_equal(pair.rejected, pair.chosen)
    with pytest.raises(ValueError, match="chosen"):
        TuneConfig(chosen="best")


def test_a_baseline_judged_with_other_seeds_is_judged_again_on_the_start_model(tmp_path):
    """Resuming with more held-out seeds than the baseline was judged with re-judges the start model first (the
    spread across 2 seeds is not the spread across 3): logged, and the guards then compare like with like."""
    from dataclasses import replace

    from tatumflow.tune.run import rejudge_baseline

    base = tmp_path / "base"
    save_checkpoint(base, Checkpoint(tiny_model(context_steps=256), Tokenizer(), STYLES))
    folder = tmp_path / "state"
    tuner = open_tuner(folder, base, TINY, tiny_data)
    run_rounds(tuner, rounds=1)
    assert tuner.state.baseline_seeds == TINY.heldout_seeds
    assert rejudge_baseline(tuner) is None  # same seeds: nothing to do
    saved = dict(tuner.state.baseline)
    written = json.loads((folder / "tune.json").read_text())
    del written["baseline_seeds"]  # a state written before the field: its baseline was judged as configured
    (folder / "tune.json").write_text(json.dumps(written))
    again = open_tuner(folder, base, TINY, tiny_data)
    assert again.state.baseline_seeds == TINY.heldout_seeds
    again.state.config = replace(again.state.config, heldout_seeds=3)
    for v in again.ckpt.model.state_dict().values():  # the policy moved: the re-judge must use the start model
        v.add_(0.5)
    record = rejudge_baseline(again)
    assert record is not None and record["previous_baseline"] == saved and record["heldout_seeds"] == 3
    assert again.state.baseline_seeds == 3 and load_state(folder).baseline == again.state.baseline
    start = open_tuner(tmp_path / "fresh", base, replace(TINY, heldout_seeds=3), tiny_data)
    assert start.heldout(0)["nll_real"] == pytest.approx(again.state.baseline["nll_real"])
    assert json.loads((folder / LOG).read_text().splitlines()[-1])["baseline_rejudged"]


def test_rejected_best_pairs_his_notes_against_the_critics_favourite(tmp_path, monkeypatch):
    """`rejected="best"` (with chosen real): the rejected side is the sample the critic scores most like Tatum (the
    lowest log-odds generated), the hardest negative; it needs chosen real."""
    from dataclasses import replace

    from tatumflow.tune import rounds

    base = tmp_path / "base"
    save_checkpoint(base, Checkpoint(tiny_model(context_steps=256), Tokenizer(), STYLES))
    cfg = replace(TINY, chosen="real", rejected="best")
    tuner = open_tuner(tmp_path / "state", base, cfg, tiny_data)
    scored: list[np.ndarray] = []

    def scores(critic, items):
        out = np.arange(len(items), dtype=float)[::-1].copy()  # the last lane of each prompt scores lowest
        scored.append(out)
        return out

    monkeypatch.setattr(rounds, "critic_scores", scores)
    captured = {}
    sample = tuner._sample

    def keep(prompts, lanes, seed):
        captured["steps"] = sample(prompts, lanes, seed)
        return captured["steps"]

    monkeypatch.setattr(tuner, "_sample", keep)
    pairs = tuner.pairs(1)
    lanes = captured["steps"][1]
    assert pairs and all(np.array_equal(p.rejected, lanes[i][-1]) for i, p in enumerate(pairs))
    with pytest.raises(ValueError, match="rejected"):
        TuneConfig(rejected="best")
    with pytest.raises(ValueError, match="rejected"):
        TuneConfig(rejected="random")


def test_rejected_random_draws_a_lane_per_prompt_the_same_on_resume(tmp_path):
    """`rejected="random"` (with chosen real): each pair's rejected side is one of the prompt's own lanes, drawn
    from the run's seed and the round (so a resumed round builds the same pairs), not always the same lane."""
    from dataclasses import replace

    base = tmp_path / "base"
    save_checkpoint(base, Checkpoint(tiny_model(context_steps=256), Tokenizer(), STYLES))
    cfg = replace(TINY, chosen="real", rejected="random", prompts_per_round=8)
    tuner = open_tuner(tmp_path / "state", base, cfg, tiny_data)
    captured = {}
    sample = tuner._sample

    def keep(prompts, lanes, seed):
        captured["steps"] = sample(prompts, lanes, seed)
        return captured["steps"]

    tuner._sample = keep  # type: ignore[method-assign]
    pairs = tuner.pairs(1)
    lanes = captured["steps"][1]
    picked = [next(i for i, lane in enumerate(lanes[k]) if np.array_equal(lane, p.rejected))
              for k, p in enumerate(pairs)]
    assert len(pairs) == len(lanes) and len(set(picked)) > 1
    again = tuner.pairs(1)
    assert all(np.array_equal(a.rejected, b.rejected) for a, b in zip(pairs, again))


def test_tune_cli_resumes_with_options_checked_against_the_runs_own_settings(tmp_path):
    """A resumed run takes the options given against its own settings (`--diversity` alone on an rloo run), and a
    new run checks them against the defaults (`--diversity` without `--objective rloo` is refused, exit 2)."""
    from tatumflow.notes import write_midi
    from tatumflow.tune.splits import TUNING_TITLES

    for i, t in enumerate([*TUNING_TITLES, *(f"Other {i}" for i in range(15))]):
        folder = tmp_path / "pijama" / "kong" / "studio" / "Art Tatum" / "Album"
        folder.mkdir(parents=True, exist_ok=True)
        write_midi(folder / f"{t}.midi", music(i, 12.0))
    base = tmp_path / "base"
    save_checkpoint(base, Checkpoint(tiny_model(context_steps=256), Tokenizer(), STYLES))
    run = ["tune", "--out", str(tmp_path / "s"), "--data", str(tmp_path / "pijama"), "--config", "tiny"]
    first = CliRunner().invoke(app, [*run, "--checkpoint", str(base), "--rounds", "1", "--objective", "rloo",
                                     "--diversity", "1"])
    assert first.exit_code == 0, first.output
    again = CliRunner().invoke(app, [*run, "--rounds", "1", "--diversity", "2"])
    assert again.exit_code == 0, again.output
    state = load_state(tmp_path / "s")
    assert state is not None and state.config.diversity == 2.0 and state.config.objective == "rloo"
    fresh = CliRunner().invoke(app, [*run[:2], str(tmp_path / "n"), *run[3:], "--checkpoint", str(base),
                                     "--diversity", "1"])
    assert fresh.exit_code == 2 and "objective rloo" in fresh.output
