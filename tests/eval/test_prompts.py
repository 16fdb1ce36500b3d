"""Prompt / continuation pairs through a recording, the replayed-prompt control, recording keys."""

from __future__ import annotations

import pytest

from tatumflow.eval.prompts import (
    MAX_SEEDS,
    SEED_STRIDE,
    pair_seed,
    prompt_splits,
    recording_of,
    replayed_prompt,
    split_prompt,
)
from tatumflow.notes import Note


def steady(seconds: float, start: float = 0.0) -> list[Note]:
    return [Note(start + i * 0.25, 0.2, 60 + i % 12, 64) for i in range(int(seconds * 4))]


def test_the_opening_only_by_default():
    notes = steady(100.0, start=1.0)
    (split,) = prompt_splits(notes, 20.0, 15.0, 0.01)
    assert split.prompt_start_s == 1.0 and (split.prompt, split.real, split.start_s) == split_prompt(
        notes, 20.0, 15.0, 0.01)


def test_a_prompt_every_30_s_while_the_continuation_fits():
    notes = steady(100.0)  # last release at 99.95 s
    splits = prompt_splits(notes, 20.0, 15.0, 0.01, every_s=30.0)
    assert [s.prompt_start_s for s in splits] == [0.0, 30.0, 60.0]  # from 90 s the continuation would run past
    for s in splits:
        assert all(s.prompt_start_s <= n.onset_s < s.prompt_start_s + 20.0 for n in s.prompt)
        assert s.start_s == pytest.approx(s.prompt_start_s + 19.76)  # last prompt onset + one grid step
        assert all(s.start_s <= n.onset_s < s.start_s + 15.0 for n in s.real) and s.real
    assert prompt_splits(steady(30.0), 20.0, 15.0, 0.01, every_s=30.0) == []
    with pytest.raises(ValueError, match="every_s"):
        prompt_splits(notes, 20.0, 15.0, 0.01, every_s=0.0)


def test_silent_prompts_are_skipped():
    notes = steady(10.0) + steady(60.0, start=40.0)  # silence from 10 s to 40 s
    assert [s.prompt_start_s for s in prompt_splits(notes, 5.0, 5.0, 0.01, every_s=10.0)] == [
        0.0, 40.0, 50.0, 60.0, 70.0, 80.0]


def test_the_replayed_prompt_is_its_last_seconds_moved_into_the_window():
    prompt = [Note(0.0, 0.5, 60, 64), Note(6.0, 0.5, 62, 64), Note(9.5, 3.0, 64, 64)]
    replay = replayed_prompt(prompt, 10.0, 5.0)
    assert replay == [Note(11.0, 0.5, 62, 64), Note(14.5, 0.5, 64, 64)]  # the last clipped at 15 s


def test_both_transcriptions_and_links_share_a_recording(tmp_path):
    paths = []
    for transcription in ("kong", "hawthorne"):
        path = tmp_path / transcription / "studio" / "A Pianist" / "An Album" / "A Title.midi"
        path.parent.mkdir(parents=True)
        path.write_bytes(b"")
        paths.append(path)
    link = tmp_path / "val" / "0_A Title.midi"
    link.parent.mkdir()
    link.symlink_to(paths[0])
    assert {recording_of(p) for p in (*paths, link)} == {"studio/A Pianist/An Album/A Title"}
    other = tmp_path / "elsewhere" / "b.mid"
    assert recording_of(other) == str((tmp_path / "elsewhere" / "b").resolve())


def test_pair_seeds_are_the_prompts_own_and_far_apart():
    a, b = steady(20.0), steady(20.0, start=0.5)
    seeds = [pair_seed(p, s) for p in (a, b) for s in range(3)]
    assert pair_seed(list(a), 1) == seeds[1]  # the prompt's notes decide, nothing else
    ordered = sorted(seeds)
    # The generator seeds window i with seed + i: continuations closer than the stride would share streams.
    assert all(y - x >= SEED_STRIDE for x, y in zip(ordered, ordered[1:]))
    with pytest.raises(ValueError, match="seed must be in"):
        pair_seed(a, MAX_SEEDS)


def test_every_prompt_draws_its_own_random_stream(monkeypatch):
    """The defect pair_seed fixes: with a seed shared by every prompt, the j-th note of window i of every prompt
    took the same uniforms, so a low run of duration draws shortened every prompt's notes at once."""
    import torch

    from tatumflow.eval import evaluate
    from tatumflow.eval.evaluate import EvalConfig, _continuations
    from tatumflow.generate.mock import MockBackend

    seen: list[tuple[int, int]] = []

    def spy(generator, prompt, seconds, controls, frame, on_window=None):
        seen.append((id(prompt), frame.seed))
        return []

    monkeypatch.setattr(evaluate, "continue_notes", spy)
    gen = evaluate.ChunkedGenerator(MockBackend())
    cfg = EvalConfig(seeds=2, prompts_every_s=30.0)
    for split in prompt_splits(steady(100.0), 20.0, 15.0, 0.01, 30.0):
        _continuations(gen, split, cfg, evaluate.Controls(harmony_weight=0.5))
    by_prompt: dict[int, set[int]] = {}
    for prompt, seed in seen:
        by_prompt.setdefault(prompt, set()).add(seed)
    assert len(by_prompt) == 3 and all(len(s) == 2 for s in by_prompt.values())  # every system shares the pair's
    streams = [torch.Generator().manual_seed(s) for p in by_prompt.values() for s in sorted(p)]
    firsts = {float(torch.rand((), generator=g)) for g in streams}
    assert len(firsts) == 6
