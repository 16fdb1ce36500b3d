"""What a round is judged by, on held-out prompts (the tuning split): the ears and the collapse guards.

- `critic_auc`: the critic's ROC AUC of the model's continuations against Tatum's real ones (0.5: fooled).
- `texture_auc`: the texture discriminator's (`eval.discriminator`, cross-validated by recording).
- `pianist_tatum_share` (model) and `pianist_tatum_share_real`: the share the pianist classifier names Tatum.
- Guards: `nll_real`, the mean per-note negative log-likelihood of Tatum's real continuations given their prompts;
  `spread_ratio`, the texture measures' spread (standard deviation over all continuations, every seed) over Tatum's
  (over his real continuations), averaged over the measures; `fourgram_ratio`, the share of distinct pitch 4-grams
  (chord order) in a continuation, the model's mean over Tatum's.
- Harmony (reported, not guarded): `pitch_class_kl` and `pctm_cosine`, each continuation's against Tatum's real one
  (`eval.metrics`, as `tatumflow eval` measures how a reply follows the harmony), means over every seed.
- Through the engine (`through_preset`, reported): the rounds sample the network alone, but the engine plays it
  through a preset's priors, in windows; `preset_*` are the same prompts continued so (as `tatumflow eval` does,
  each prompt's own seeds), and `preset_no_style_*` by the same network without its style token (the baseline
  the harmony must beat): pitch-class KL, PCTM, mean duration, the pianist classifier's Tatum share.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..eval.critic import Critic, critic_scores, critic_steps
from ..eval.discriminator import DiscriminatorConfig, cross_validated_auc, feature_vector, roc_auc
from ..eval.evaluate import no_style
from ..eval.metrics import in_chord_order, pctm_cosine, pitch_class_kl
from ..eval.pianist import PianistClassifier, pianist_features
from ..eval.prompts import pair_seed
from ..eval.texture import snap_to_grid, texture_measures
from ..generate.backend import TransformerBackend
from ..generate.continuation import continue_notes
from ..generate.generator import ChunkedGenerator
from ..generate.window import Window
from ..model.checkpoint import Checkpoint
from ..model.tokenizer import Tokenizer
from ..model.transformer import NoteTransformer
from ..notes import Note
from ..presets import load_preset
from .learn import sequence_logprob
from .sampler import SampleConfig, continue_lanes, prompt_notes

SPREAD_KEYS = ("notes_per_onset", "chord_share", "voicing_width", "duration_mean_s", "velocity_std",
               "tempo_regularity")


@dataclass(frozen=True)
class Prompt:
    recording: str
    prompt: list[Note]
    real: list[Note]
    start_s: float  # where continuations begin (`continuation_start_s`)


@dataclass
class Samples:
    prompts: list[Prompt]
    generated: list[list[list[Note]]]  # per prompt, per seed


def sample_prompts(model: NoteTransformer, tokenizer: Tokenizer, style: int, prompts: Sequence[Prompt], lanes: int,
                   cfg: SampleConfig, seed: int) -> tuple[Samples, list[list[np.ndarray]]]:
    """`lanes` continuations of every prompt (notes, and the sampled steps for DPO)."""
    gen = torch.Generator().manual_seed(seed)
    notes, steps = [], []
    for p in prompts:
        out = continue_lanes(model, tokenizer, style, p.prompt, lanes, cfg, gen)
        notes.append([c.notes for c in out])
        steps.append([c.steps for c in out])
    return Samples(list(prompts), notes), steps


def fourgram_share(notes: Sequence[Note]) -> float:
    pitches = [n.pitch for n in in_chord_order(notes)]
    grams = [tuple(pitches[i : i + 4]) for i in range(len(pitches) - 3)]
    return len(set(grams)) / len(grams) if grams else math.nan


def _texture(notes: Sequence[Note], end_s: float) -> tuple[dict[str, float], np.ndarray]:
    view = snap_to_grid(notes, 0.01, end_s)
    m = texture_measures(view)
    return m, feature_vector(view, m)


def spread_measures(notes: Sequence[Note], end_s: float) -> np.ndarray:
    """The texture measures the spread guard reads (`SPREAD_KEYS`), of one continuation (NaN where undefined)."""
    m = _texture(notes, end_s)[0]
    return np.array([m[key] for key in SPREAD_KEYS], dtype=np.float64)


def harmony_measures(real: Sequence[Note], notes: Sequence[Note]) -> np.ndarray:
    """How one continuation follows the harmony of the real one: (minus the pitch-class KL, the PCTM cosine), both
    higher when closer (`eval.metrics`, as `tatumflow eval` and the judge measure it)."""
    return np.array([-pitch_class_kl(real, notes), pctm_cosine(real, notes)], dtype=np.float64)


@torch.no_grad()
def real_nll(model: NoteTransformer, tokenizer: Tokenizer, style: int, prompts: Sequence[Prompt],
             cfg: SampleConfig) -> float:
    """Mean per-note NLL (nats, four fields) of the real continuations given their prompts."""
    total, count = 0.0, 0
    model.eval()
    for p in prompts:
        head = prompt_notes(p.prompt, cfg)
        tail = sorted((n for n in p.real if 21 <= n.pitch <= 108), key=lambda n: (n.onset_s, n.pitch))
        tail = tail[: cfg.max_notes]
        if not head or not tail:
            continue
        steps = tokenizer.steps_after(None, head + tail)
        lp = sequence_logprob(model, style, [steps[: len(head)]], [steps[len(head) :]])
        total, count = total - float(lp[0]), count + len(tail)
    return total / count if count else math.nan


def judge(samples: Samples, tokenizer: Tokenizer, seconds: float, critic: Critic | None,
          pianist: PianistClassifier | None) -> dict[str, float]:
    """The ears and the texture guards over held-out samples (see the module)."""
    real_m, real_f, fake_m, fake_f, groups_real, groups_fake = [], [], [], [], [], []
    real_items, fake_items, grams_real, grams_fake, kls, pctms = [], [], [], [], [], []
    for p, seeds in zip(samples.prompts, samples.generated):
        end = p.start_s + seconds
        m, f = _texture(p.real, end)
        real_m.append(m)
        real_f.append(f)
        groups_real.append(p.recording)
        grams_real.append(fourgram_share(snap_to_grid(p.real, 0.01, end)))
        if critic is not None:
            real_items.append(critic_steps(tokenizer, critic.cfg, p.prompt, p.real, p.start_s, seconds))
        for notes in seeds:
            m, f = _texture(notes, end)
            fake_m.append(m)
            fake_f.append(f)
            groups_fake.append(p.recording)
            grams_fake.append(fourgram_share(notes))
            harmony = harmony_measures(p.real, notes)
            kls.append(-harmony[0])
            pctms.append(harmony[1])
            if critic is not None:
                fake_items.append(critic_steps(tokenizer, critic.cfg, p.prompt, notes, p.start_s, seconds))
    x = np.array(real_f + fake_f)
    y = np.concatenate([np.zeros(len(real_f)), np.ones(len(fake_f))])
    out = {"texture_auc": cross_validated_auc(x, y, groups_real + groups_fake, DiscriminatorConfig()),
           "spread_ratio": _spread_ratio(real_m, fake_m),
           "fourgram_ratio": float(np.nanmean(grams_fake) / np.nanmean(grams_real)),
           "pitch_class_kl": float(np.nanmean(kls)), "pctm_cosine": float(np.nanmean(pctms))}
    for key in SPREAD_KEYS:
        out[f"mean_{key}"] = float(np.nanmean([m[key] for m in fake_m]))
        out[f"mean_{key}_real"] = float(np.nanmean([m[key] for m in real_m]))
    if critic is not None:
        scores = critic_scores(critic, real_items + fake_items)
        out["critic_auc"] = roc_auc(scores, y)
    if pianist is not None:
        rows = [pianist_features(p.real, seconds) for p in samples.prompts]
        out["pianist_tatum_share_real"] = pianist.share_of("Art Tatum", np.array(rows))
        rows = [pianist_features(n, seconds) for seeds in samples.generated for n in seeds]
        out["pianist_tatum_share"] = pianist.share_of("Art Tatum", np.array(rows))
    return out


def _spread_ratio(real: Sequence[dict[str, float]], fake: Sequence[dict[str, float]]) -> float:
    ratios = []
    for key in SPREAD_KEYS:
        r = np.nanstd([m[key] for m in real])
        f = np.nanstd([m[key] for m in fake])
        if r > 0:
            ratios.append(f / r)
    return float(np.mean(ratios)) if ratios else math.nan


def through_preset(ckpt: Checkpoint, prompts: Sequence[Prompt], seconds: float, seeds: int,
                   pianist: PianistClassifier | None, preset: str = "tatum") -> dict[str, float]:
    """The prompts continued as the engine plays the network (see the module), `seeds` each."""
    generator = ChunkedGenerator(TransformerBackend(ckpt.model, ckpt.tokenizer, ckpt.styles))
    controls = load_preset(preset).controls
    out: dict[str, float] = {}
    for name, c in (("preset", controls), ("preset_no_style", no_style(controls))):
        harmony, durations, rows = [], [], []
        for p in prompts:
            for seed in range(seeds):
                notes = continue_notes(generator, p.prompt, seconds, c, Window(seed=pair_seed(p.prompt, seed)))
                harmony.append(harmony_measures(p.real, notes))
                durations.append(_texture(notes, p.start_s + seconds)[0]["duration_mean_s"])
                rows.append(pianist_features(notes, seconds))
        out[f"{name}_pitch_class_kl"] = -float(np.mean([h[0] for h in harmony]))
        out[f"{name}_pctm_cosine"] = float(np.mean([h[1] for h in harmony]))
        out[f"{name}_duration_mean_s"] = float(np.nanmean(durations))
        if pianist is not None:
            out[f"{name}_pianist_tatum_share"] = pianist.share_of("Art Tatum", np.array(rows))
    return out
