"""Prompt / continuation pairs through a recording, the replayed-prompt control, recording keys."""

from __future__ import annotations

import pytest

from tatumflow.eval.prompts import prompt_splits, recording_of, replayed_prompt, split_prompt
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
