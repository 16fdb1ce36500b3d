"""Where the prompts come from: prompt / real-continuation pairs cut from a recording, and the recording they share.

A pair is a prompt (the notes with onsets in [p0, p0 + prompt_seconds)) and the real continuation (onsets in
[c0, c0 + continue_seconds), c0 = `continuation_start_s(prompt)`, where every system starts too). By default one pair
per file, from its first onset (`split_prompt`, the protocol of the earlier reports). With `every_s`, a prompt starts
every `every_s` seconds from the first onset, and a pair is kept only if its continuation window ends before the
recording does (the last note's release), so that no real continuation is cut short by the end of the file.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..generate.continuation import continuation_start_s
from ..notes import MIN_DURATION_S, TRANSCRIPTIONS, Note
from ..train.data import recording_key


class Split(NamedTuple):
    prompt: list[Note]
    real: list[Note]
    start_s: float  # c0: where the continuations begin
    prompt_start_s: float  # p0


def split_prompt(
    notes: Sequence[Note], prompt_seconds: float, continue_seconds: float, grid_s: float,
    prompt_start_s: float | None = None,
) -> tuple[list[Note], list[Note], float] | None:
    """(prompt, real continuation, continuation start), or None when either part is empty. The prompt starts at
    `prompt_start_s` (default: the first onset)."""
    if not notes:
        return None
    t0 = min(n.onset_s for n in notes) if prompt_start_s is None else prompt_start_s
    prompt = [n for n in notes if t0 <= n.onset_s < t0 + prompt_seconds]
    if not prompt:
        return None
    c0 = continuation_start_s(prompt, grid_s)
    real = [n for n in notes if c0 <= n.onset_s < c0 + continue_seconds]
    return (prompt, real, c0) if real else None


MAX_PROMPTS_PER_FILE = 1_000  # a prompt every 20 s through a 5-hour file; eval holds each pair's notes


def prompt_splits(
    notes: Sequence[Note], prompt_seconds: float, continue_seconds: float, grid_s: float, every_s: float | None = None
) -> list[Split]:
    """The pairs of one recording (see the module): the opening alone, or one every `every_s` seconds."""
    if not notes:
        return []
    t0 = min(n.onset_s for n in notes)
    if every_s is None:
        split = split_prompt(notes, prompt_seconds, continue_seconds, grid_s)
        return [Split(*split, t0)] if split else []
    if not every_s > 0:
        raise ValueError(f"every_s must be > 0, got {every_s}")
    end = max(n.end_s for n in notes)
    out: list[Split] = []
    k = 0
    while (p0 := t0 + k * every_s) + prompt_seconds + continue_seconds <= end and len(out) < MAX_PROMPTS_PER_FILE:
        split = split_prompt(notes, prompt_seconds, continue_seconds, grid_s, prompt_start_s=p0)
        if split and split[2] + continue_seconds <= end:
            out.append(Split(*split, p0))
        k += 1
    return out


# Two continuations' seeds lie at least this far apart. The generator seeds window i with `seed + i`, and each note
# draws its four fields' uniforms in order, so two continuations whose seeds were equal or a few apart would share
# their random streams note for note: for example, every prompt's window 3 would take the same duration draws.
SEED_STRIDE = 10_000
MAX_SEEDS = 100


def pair_seed(prompt: Sequence[Note], seed: int) -> int:
    """The seed of the `seed`-th continuation (0 <= seed < MAX_SEEDS) of a prompt: drawn from the prompt's notes,
    so the same in every run, for every system continuing it (paired comparisons) and wherever the file lies; and
    at least `SEED_STRIDE` from any other prompt's or seed's (two prompts collide only if their 20-bit keys do).

    Seeding every prompt with the same 0, 1, ... (the eval until 2026-12-03) made every pair's window i draw the same
    uniforms: with inverse-CDF sampling, a stream whose duration draws happen to run low shortened every prompt's
    notes in that window at once, so averages over prompts kept the noise of a few streams (benchmarks/eval/README.md).
    """
    if not 0 <= seed < MAX_SEEDS:
        raise ValueError(f"seed must be in 0..{MAX_SEEDS - 1}, got {seed}")
    fingerprint = np.array([(round(n.onset_s * 1000), n.pitch) for n in prompt], dtype=np.int64)
    key = zlib.crc32(fingerprint.tobytes()) % (1 << 20)
    return (key * MAX_SEEDS + seed) * SEED_STRIDE


def replayed_prompt(prompt: Sequence[Note], start_s: float, seconds: float) -> list[Note]:
    """The control "real prompt replayed": the prompt's notes with onsets in its last `seconds` before `start_s`,
    moved `seconds` later (into the continuation window) and clipped at its end. Real music that is not the real
    continuation: what a discriminator should find as hard to tell from it as a perfect system."""
    end = start_s + seconds
    moved = [n.shifted(seconds) for n in prompt if start_s - seconds <= n.onset_s < start_s]
    return sorted(replace(n, duration_s=max(min(n.duration_s, end - n.onset_s), MIN_DURATION_S)) for n in moved)


def recording_of(path: str | Path) -> str:
    """The recording a file is a transcription of: its path (symlinks followed) below the last PiJAMA transcription
    folder (kong/, hawthorne/) without suffix, as `train.data.recording_key` names it, so that both transcriptions
    of one recording share it; a file outside such a folder is a recording of its own (its resolved path)."""
    resolved = Path(path).resolve()
    parts = resolved.parts
    below = [i for i, part in enumerate(parts) if part in TRANSCRIPTIONS]
    if not below:
        return str(resolved.with_suffix(""))
    return recording_key("/".join(parts[below[-1] :]))[0]
