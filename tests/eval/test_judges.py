"""`tatumflow eval --critic --pianist`: the learned ears judged every continuation and the real one."""

import json

import numpy as np
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


def test_eval_reports_the_critic_and_the_pianist_share(tmp_path):
    model = tiny_model(context_steps=256)
    ckpt = save_checkpoint(tmp_path / "ckpt", Checkpoint(model, Tokenizer(), STYLES))
    critic = Critic(CriticConfig(embed_dim=32, d_model=16, n_layers=1, n_heads=2))
    critic.copy_embeddings(model)
    save_critic(critic, tmp_path / "critic")
    x = np.array([pianist_features(piece(8.0, offset=k), 2.0) for k in range(4)])
    save_pianist(fit_pianists(x, ["Art Tatum", "Other"] * 2), tmp_path / "pianist")
    data = tmp_path / "data"
    data.mkdir()
    write_midi(data / "a.mid", piece(6.0))
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
