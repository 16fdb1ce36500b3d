"""`tatumflow eval --critic --pianist`: the learned ears judged every continuation and the real one."""

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from tatumflow.cli import app
from tatumflow.eval.critic import Critic, CriticConfig, save_critic
from tatumflow.eval.judges import judged_summary
from tatumflow.eval.pianist import fit_pianists, pianist_features, save_pianist
from tatumflow.model.checkpoint import Checkpoint, save_checkpoint
from tatumflow.model.tokenizer import Tokenizer
from tatumflow.notes import write_midi

from ..tiny import STYLES, tiny_model
from .test_evaluate import piece

torch.set_num_threads(1)


def test_summary_counts_the_critic_against_the_real_continuations():
    judged = [{"model": [{"critic": 2.0, "pianist_tatum": 1.0}, {"critic": 1.0, "pianist_tatum": 0.0}],
               "real": [{"critic": 0.5, "pianist_tatum": 1.0}]},
              {"model": [{"critic": -1.0, "pianist_tatum": 0.0}], "real": [{"critic": 0.0, "pianist_tatum": 1.0}]}]
    out = judged_summary(judged)
    assert out["model"]["critic_auc"] == 4 / 6  # (2, 1, -1) against (0.5, 0): 4 of 6 pairs ordered
    assert out["model"]["pianist_tatum_share"] == 1 / 3
    assert out["real"] == {"pianist_tatum_share": 1.0}


def tiny_eval_setup(tmp_path):
    """A tiny checkpoint, a critic over its embeddings (both saved) and a data folder with one piece."""
    model = tiny_model(context_steps=256)
    ckpt = save_checkpoint(tmp_path / "ckpt", Checkpoint(model, Tokenizer(), STYLES))
    critic = Critic(CriticConfig(embed_dim=32, d_model=16, n_layers=1, n_heads=2))
    critic.copy_embeddings(model)
    save_critic(critic, tmp_path / "critic")
    data = tmp_path / "data"
    data.mkdir()
    write_midi(data / "a.mid", piece(6.0))
    return ckpt, data


def test_eval_reports_the_critic_and_the_pianist_share(tmp_path):
    ckpt, data = tiny_eval_setup(tmp_path)
    x = np.array([pianist_features(piece(8.0, offset=k), 2.0) for k in range(4)])
    save_pianist(fit_pianists(x, ["Art Tatum", "Other"] * 2), tmp_path / "pianist")
    out = tmp_path / "eval.json"
    result = CliRunner().invoke(app, [
        "eval", "--data", str(data), "--prompt-seconds", "3", "--continue-seconds", "2", "--seeds", "2",
        "--checkpoint", str(ckpt), "--device", "cpu", "--json", str(out), "--critic", str(tmp_path / "critic"),
        "--pianist", str(tmp_path / "pianist")], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "learned critic AUC" in result.output
    report = json.loads(out.read_text())
    assert 0 <= report["model"]["critic_auc"] <= 1
    assert 0 <= report["real"]["pianist_tatum_share"] <= 1 and "critic_auc" not in report["real"]


def test_eval_rejects_a_critic_folder_that_is_not_one(tmp_path):
    result = CliRunner().invoke(app, ["eval", "--data", str(tmp_path), "--critic", str(tmp_path)])
    assert result.exit_code == 2
    assert "critic" in result.output


def test_best_of_n_keeps_the_picked_candidate_window_by_window():
    """Candidate 0 of every window is the plain continuation's window: keeping it plays the plain notes; keeping
    another plays that candidate's window (its own seed) and goes on from its state; a critic's pick is the candidate
    it scores lowest (most like Tatum)."""
    from dataclasses import replace

    from tatumflow.eval.critic import critic_pick, critic_scores, critic_steps
    from tatumflow.generate.backend import TransformerBackend
    from tatumflow.generate.continuation import CANDIDATE_SEED_STRIDE, BestOf, continue_notes
    from tatumflow.generate.controls import Controls
    from tatumflow.generate.generator import ChunkedGenerator
    from tatumflow.generate.window import Window

    model = tiny_model(context_steps=256)
    gen = ChunkedGenerator(TransformerBackend(model, Tokenizer(), STYLES, "cpu"))
    controls, frame, prompt = Controls(window_s=1.0), Window(seed=5), piece(4.0)
    plain = continue_notes(gen, prompt, 3.0, controls, frame)
    seen: list[int] = []

    def first(context, candidates, start_s, end_s):
        seen.append(len(candidates))
        assert all(n.onset_s < start_s for n in context) and end_s == start_s + 1.0
        return 0

    assert continue_notes(gen, prompt, 3.0, controls, frame, best_of=BestOf(3, first)) == plain
    assert seen == [3, 3, 3]
    last = continue_notes(gen, prompt, 3.0, controls, frame, best_of=BestOf(3, lambda *a: 2))
    other = continue_notes(gen, prompt, 1.0, controls, replace(frame, seed=5 + 2 * CANDIDATE_SEED_STRIDE))
    first_window = [(n.onset_s, n.pitch, n.velocity) for n in last if n.onset_s < other[-1].onset_s + 1e-9]
    assert first_window == [(n.onset_s, n.pitch, n.velocity) for n in other]  # durations: the 1 s run clips them
    assert last != plain
    with pytest.raises(ValueError, match="pick returned"):
        continue_notes(gen, prompt, 2.0, controls, frame, best_of=BestOf(2, lambda *a: 2))
    with pytest.raises(ValueError, match="1..16"):
        BestOf(0, first)
    critic = Critic(CriticConfig(embed_dim=32, d_model=16, n_layers=1, n_heads=2))
    critic.copy_embeddings(model)
    candidates = [piece(1.0, offset=k) for k in range(4)]
    items = [critic_steps(Tokenizer(), critic.cfg, prompt, c, 0.0, 1.0) for c in candidates]
    want = int(np.argmin(critic_scores(critic, items)))
    assert critic_pick(critic, Tokenizer())(prompt, candidates, 0.0, 1.0) == want


def test_eval_best_of_n_is_a_system_and_needs_a_critic(tmp_path):
    ckpt, data = tiny_eval_setup(tmp_path)
    args = ["eval", "--data", str(data), "--prompt-seconds", "3", "--continue-seconds", "2", "--seeds", "1",
            "--checkpoint", str(ckpt), "--device", "cpu", "--best-of", "2"]
    refused = CliRunner().invoke(app, args)
    assert refused.exit_code == 2 and "needs a critic" in refused.output
    out = tmp_path / "eval.json"
    result = CliRunner().invoke(app, [*args, "--critic", str(tmp_path / "critic"), "--json", str(out)],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert 0 <= report["best_of_2"]["critic_auc"] <= 1 and report["best_of_2"]["grammar_errors"] == 0
