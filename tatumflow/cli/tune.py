"""`tatumflow tune`: preference tuning against the learned critic, in rounds that resume (tune/rounds.py)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer

from .common import fail

CriticOpt = Annotated[str | None, typer.Option(
    "--critic", help="Learned critic folder (default: the shipped one, if any).", show_default=False)]
PianistOpt = Annotated[str | None, typer.Option(
    "--pianist", help="Pianist classifier folder (default: the shipped one, if any).", show_default=False)]
ObjectiveOpt = Annotated[str | None, typer.Option(
    "--objective", help="dpo (pairs) or rloo (a policy gradient on every sample's critic score).")]
DiversityOpt = Annotated[float | None, typer.Option(
    "--diversity", help="rloo: add each sample's texture distance to its prompt's others, so weighted.")]
HarmonyOpt = Annotated[float | None, typer.Option(
    "--harmony", help="rloo: add how closely each sample follows the harmony that really came, so weighted.")]
CriticPromptsOpt = Annotated[int | None, typer.Option("--critic-prompts", help="Prompts the critic retrains on.")]
SeedsOpt = Annotated[int | None, typer.Option("--heldout-seeds", help="Continuations per held-out prompt.")]
ROUND_KEYS = ("critic_auc", "texture_auc", "pianist_tatum_share", "nll_real", "spread_ratio", "fourgram_ratio",
              "pitch_class_kl", "pctm_cosine", "preset_pitch_class_kl", "preset_no_style_pitch_class_kl",
              "preset_pctm_cosine", "preset_no_style_pctm_cosine")


def _print_round(record: dict[str, Any]) -> None:
    values = ", ".join(f"{k} {record[k]:.4g}" for k in ROUND_KEYS if isinstance(record.get(k), float))
    typer.echo(f"round {record['round']} ({'kept' if record['kept'] else 'NOT kept'}, {record['seconds']} s): {values}")


def _overrides(**given: Any) -> dict[str, Any]:
    """The config fields given on the command line (a resumed run takes them; the others stay as started)."""
    return {k: v for k, v in given.items() if v is not None}


def _check_options(config: str, threads: int, rounds: int | None, data: str) -> None:
    if config not in ("default", "tiny"):
        fail(f"--config must be default or tiny, got {config!r}")
    if not 1 <= threads <= 256 or (rounds is not None and rounds < 1):
        fail("--threads must be in 1..256 and --rounds >= 1")
    if not (Path(data) / "kong").is_dir():
        fail(f"--data {data}: no kong/ folder (give the PiJAMA root)")


def _open(out: str, data: str, checkpoint: str | None, cfg: Any, overrides: dict[str, Any], pianist: str | None
          ) -> Any:
    """The run in `out` (started from `checkpoint` or the embedded model with `cfg` and the options given, or resumed
    with its own settings and the options given checked against them), on Art Tatum's training and tuning splits of
    the PiJAMA root `data`."""
    from tatumflow.eval.pianist import load_pianist
    from tatumflow.tune.config import DEFAULT_BASE, load_state
    from tatumflow.tune.rounds import tune_data
    from tatumflow.tune.run import open_tuner
    from tatumflow.tune.splits import pijama_recordings, tatum_split

    if load_state(Path(out)) is None:
        cfg = replace(cfg, **overrides)
    clf = load_pianist(pianist) if pianist else None
    train, tuning = tatum_split(pijama_recordings(data))
    tuner = open_tuner(Path(out), checkpoint or DEFAULT_BASE, cfg,
                       lambda c, grid: tune_data(train, tuning, c, grid), clf)
    tuner.state.config = replace(tuner.state.config, **overrides)  # a resumed run takes the options given now
    return tuner


def tune(
    out: Annotated[str, typer.Option("--out", help=(
        "State folder: a run resumes from it (policy, critic, log) with its settings, but those given again."))],
    data: Annotated[str, typer.Option("--data", help="The PiJAMA root (kong/, pijama.csv): Art Tatum's training "
                                      "split gives the prompts, the tuning split judges the rounds.")],
    checkpoint: Annotated[str | None, typer.Option(
        "--checkpoint", help="Start model (default: the embedded one); ignored when resuming.")] = None,
    rounds: Annotated[int | None, typer.Option("--rounds", help="Run at most this many rounds now.")] = None,
    config: Annotated[str, typer.Option("--config", help="default or tiny (seconds, for tests).")] = "default",
    prompts: Annotated[int | None, typer.Option("--prompts", help="Prompts per round (DPO pairs).")] = None,
    samples: Annotated[int | None, typer.Option("--samples", help="Continuations per prompt.")] = None,
    critic_prompts: CriticPromptsOpt = None,
    heldout_prompts: Annotated[int | None, typer.Option("--heldout-prompts", help="Held-out prompts judged.")] = None,
    heldout_seeds: SeedsOpt = None,
    max_rounds: Annotated[int | None, typer.Option("--max-rounds", help="Stop the run after this round.")] = None,
    lr: Annotated[float | None, typer.Option("--lr", help="DPO learning rate (AdamW).")] = None,
    beta: Annotated[float | None, typer.Option("--beta", help="DPO's beta (the KL leash).")] = None,
    every: Annotated[float | None, typer.Option("--prompts-every", help="Seconds between prompts (a new run).")] = None,
    chosen: Annotated[str | None, typer.Option("--chosen", help="A pair's preferred side: critic or real.")] = None,
    rejected: Annotated[str | None, typer.Option("--rejected", help=(
        "Its other side: the critic's worst or best sample, or random (best and random need --chosen real)."))] = None,
    sft: Annotated[float | None, typer.Option("--sft-weight", help="Add the chosen side's NLL, so weighted.")] = None,
    objective: ObjectiveOpt = None,
    diversity: DiversityOpt = None,
    harmony: HarmonyOpt = None,
    per_step: Annotated[bool | None, typer.Option("--per-step/--per-sequence", help="DPO on means per note.")] = None,
    anchor: Annotated[float | None, typer.Option("--anchor-kl", help="Add KL(ref || model) per note.")] = None,
    anchor_to: Annotated[str | None, typer.Option("--anchor-to", help="Its ref: round (the sampler) or start.")] = None,
    pianist: Annotated[str | None, typer.Option("--pianist", help="Pianist classifier folder (for the log).")] = None,
    threads: Annotated[int, typer.Option("--threads", help="Torch threads.")] = 1,
    go_on: Annotated[bool, typer.Option(
        "--resume-stopped", help="Go on with a stopped run (a guard, the patience), settings changed.")] = False,
) -> None:
    """Preference-tune the generator against a learned critic (DPO or RLOO), in rounds; resumes from --out."""
    from tatumflow.paths import check_output_dir
    from tatumflow.tune.config import TINY, TuneConfig
    from tatumflow.tune.run import resume_stopped, run_rounds, set_threads

    _check_options(config, threads, rounds, data)
    overrides = _overrides(prompts_per_round=prompts, samples_per_prompt=samples, critic_prompts=critic_prompts,
                           heldout_prompts=heldout_prompts, heldout_seeds=heldout_seeds, max_rounds=max_rounds,
                           lr=lr, beta=beta, prompts_every_s=every, chosen=chosen, rejected=rejected,
                           sft_weight=sft, per_step=per_step, anchor_kl=anchor, anchor_to=anchor_to,
                           objective=objective, diversity=diversity, harmony=harmony)
    try:
        check_output_dir(out, "--out")
        set_threads(threads)
        tuner = _open(out, data, checkpoint, TINY if config == "tiny" else TuneConfig(), overrides, pianist)
        if go_on:
            resume_stopped(tuner)
        state = run_rounds(tuner, rounds, _print_round)
    except (ValueError, FileNotFoundError) as err:
        fail(str(err))
    typer.echo(f"{out}: round {state.round} completed; {state.status}")
