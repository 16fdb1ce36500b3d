"""The learned ears in `tatumflow eval`: the critic (critic.py) and the pianist classifier (pianist.py).

Each continuation (every system, every seed) and each real continuation is judged: the critic's log-odds that it is
generated, given its prompt, and whether the pianist classifier names Art Tatum. Over all pairs: `critic_auc` per
system (the critic's ROC AUC of its continuations against the real ones; it was trained on other prompts, so no
cross-validation) and `pianist_tatum_share` per system and for the real continuations.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..model.checkpoint import default_checkpoint_dir
from ..model.tokenizer import Tokenizer
from ..notes import Note
from .critic import Critic, critic_scores, critic_steps, load_critic
from .discriminator import roc_auc
from .pianist import PianistClassifier, load_pianist, pianist_features

TATUM = "Art Tatum"
CRITIC_DIR, PIANIST_DIR = "critic", "pianist"


def shipped(name: str) -> Path | None:
    """The folder of a shipped ear beside the default model (checkpoints/critic, checkpoints/pianist), if any."""
    path = default_checkpoint_dir() / name
    return path if path.is_dir() else None


@dataclass
class Judges:
    critic: Critic | None = None
    pianist: PianistClassifier | None = None

    @classmethod
    def load(cls, critic: str | Path | None, pianist: str | Path | None) -> Judges:
        """The ears at these folders (None: the shipped one, when one ships)."""
        critic_path = Path(critic) if critic else shipped(CRITIC_DIR)
        pianist_path = Path(pianist) if pianist else shipped(PIANIST_DIR)
        return cls(load_critic(critic_path)[0] if critic_path else None,
                   load_pianist(pianist_path) if pianist_path else None)

    def __bool__(self) -> bool:
        return self.critic is not None or self.pianist is not None

    def judge(self, tokenizer: Tokenizer, prompt: Sequence[Note], continuations: Sequence[Sequence[Note]],
              start_s: float, seconds: float) -> list[dict[str, float]]:
        """Per continuation: "critic" (log-odds generated) and "pianist_tatum" (1 if Tatum is named, else 0)."""
        out: list[dict[str, float]] = [{} for _ in continuations]
        if self.critic is not None:
            items = [critic_steps(tokenizer, self.critic.cfg, prompt, c, start_s, seconds) for c in continuations]
            for row, score in zip(out, critic_scores(self.critic, items)):
                row["critic"] = float(score)
        if self.pianist is not None:
            x = np.array([pianist_features(c, seconds) for c in continuations])
            for row, name in zip(out, self.pianist.predict(x)):
                row["pianist_tatum"] = float(name == TATUM)
        return out


def judged_summary(judged: Sequence[dict[str, list[dict[str, float]]]]) -> dict[str, dict[str, float]]:
    """Per system (and "real"): critic_auc against the real continuations, pianist_tatum_share."""
    if not judged:
        return {}
    out: dict[str, dict[str, float]] = {}
    real = [row for pair in judged for row in pair["real"]]
    for name in judged[0]:
        rows = [row for pair in judged for row in pair[name]]
        values: dict[str, float] = {}
        if rows and "pianist_tatum" in rows[0]:
            values["pianist_tatum_share"] = float(np.mean([r["pianist_tatum"] for r in rows]))
        if name != "real" and rows and "critic" in rows[0]:
            scores = np.array([r["critic"] for r in real] + [r["critic"] for r in rows])
            labels = np.r_[np.zeros(len(real)), np.ones(len(rows))]
            values["critic_auc"] = roc_auc(scores, labels) if len(real) else math.nan
        out[name] = values
    return out
