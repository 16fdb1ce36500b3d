"""The streaming contract: windows, seeds, state copies, human notes folded in, long sessions."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from tatumflow.generate.backend import TransformerBackend
from tatumflow.generate.controls import Controls
from tatumflow.generate.generator import MAX_ONSET_NOTES, ChunkedGenerator
from tatumflow.generate.mock import MockBackend, mock_generator
from tatumflow.generate.window import Window
from tatumflow.model.tokenizer import Tokenizer
from tatumflow.notes import Note

from ..tiny import STYLES, tiny_model

PROMPT = [Note(0.25 * i, 0.3, 60 + (i * 5) % 12, 70) for i in range(12)]
CONTROLS = Controls(style={"Art Tatum": 1.0})
NEXT = Window(seed=7)  # the next window, seed 7


def run_windows(gen, state, n, controls=CONTROLS, window=NEXT):
    out = []
    for _ in range(n):
        notes, state = gen.generate_chunk(state, [], controls, window)
        out.append(notes)
    return out, state


def test_notes_fall_inside_their_window(generator):
    state = generator.init_state(PROMPT, CONTROLS)
    start = state.window_start_s
    windows, state = run_windows(generator, state, 5)
    assert sum(map(len, windows)) > 0
    for i, notes in enumerate(windows):
        lo, hi = start + i * CONTROLS.window_s, start + (i + 1) * CONTROLS.window_s
        assert all(lo - 1e-9 <= n.onset_s < hi for n in notes)
        assert [n.onset_s for n in notes] == sorted(n.onset_s for n in notes)
    assert state.window_index == 5


def test_same_seed_same_notes_other_seed_other_notes(generator):
    a, _ = run_windows(generator, generator.init_state(PROMPT, CONTROLS), 3)
    b, _ = run_windows(generator, generator.init_state(PROMPT, CONTROLS), 3)
    c, _ = run_windows(generator, generator.init_state(PROMPT, CONTROLS), 3, window=Window(seed=8))
    assert a == b
    assert a != c


def test_greedy_across_window_boundary_is_bit_exact_after_copy(generator):
    greedy = replace(CONTROLS, top_k=1)
    state = generator.init_state(PROMPT, greedy)
    first, state = generator.generate_chunk(state, [], greedy, NEXT)
    saved = state.copy()
    second, state = generator.generate_chunk(state, [], greedy, NEXT)
    again, restored = generator.generate_chunk(saved, [], greedy, NEXT)
    assert second == again
    assert torch.equal(state.cache.k[:, :, :, : state.cache.length], restored.cache.k[:, :, :, : restored.cache.length])
    # And one uninterrupted run of two windows equals the two calls.
    whole, _ = generator.generate_chunk(generator.init_state(PROMPT, greedy), [], replace(greedy, window_s=4.0), NEXT)
    assert [n.onset_s for n in whole if n.onset_s < state.window_start_s] == [n.onset_s for n in first + second]


def test_human_notes_roll_back_and_match_fresh_prefill(generator):
    state = generator.init_state(PROMPT, CONTROLS)
    model_notes, state = generator.generate_chunk(state, [], CONTROLS, NEXT)
    human = [Note(PROMPT[-1].onset_s + 0.05, 0.2, 72, 90), Note(PROMPT[-1].onset_s + 0.4, 0.2, 74, 90)]
    generator.absorb(state, human, CONTROLS)
    merged = sorted(PROMPT + model_notes + human, key=lambda n: (n.onset_s, n.pitch))
    assert state.context == merged
    fresh = generator.init_state(merged, CONTROLS)
    n = state.cache.length
    assert n == fresh.cache.length == len(merged) + 1
    torch.testing.assert_close(state.cache.hidden[:, :n], fresh.cache.hidden[:, :n], rtol=1e-4, atol=1e-5)


def test_truncate_forgets_unplayed_notes(generator):
    state = generator.init_state(PROMPT, CONTROLS)
    generator.truncate(state, PROMPT[5].onset_s)
    assert state.context == PROMPT[:5]
    assert state.cache.length == 6


def test_constraints_pitch_range_and_min_onset(generator):
    controls = replace(CONTROLS, pitch_low=48, pitch_high=59, max_duration_s=0.25)
    state = generator.init_state(PROMPT, controls, start_s=10.0)
    notes, _ = run_windows(generator, state, 4, controls)
    notes = [n for w in notes for n in w]
    assert notes and all(48 <= n.pitch <= 59 and n.onset_s >= 10.0 and n.duration_s <= 0.26 for n in notes)
    # No pitch struck twice at one onset.
    seen = [(round(n.onset_s, 3), n.pitch) for n in notes]
    assert len(seen) == len(set(seen))


def test_guidance_lane_and_style_mix(generator):
    controls = replace(CONTROLS, guidance=2.0, style={"Art Tatum": 0.5, "Dick Hyman": 0.5})
    state = generator.init_state(PROMPT, controls)
    assert state.cache.k.shape[1] == 2
    start = state.window_start_s
    notes, state = generator.generate_chunk(state, [], controls, NEXT)
    assert notes and all(start <= n.onset_s < start + controls.window_s for n in notes)
    plain, _ = generator.generate_chunk(generator.init_state(PROMPT, CONTROLS), [], CONTROLS, NEXT)  # same seed
    assert [(n.onset_s, n.pitch) for n in notes] != [(n.onset_s, n.pitch) for n in plain]
    with pytest.raises(ValueError, match="unknown style"):
        generator.generate_chunk(state, [], replace(controls, style={"Nobody": 1.0}), NEXT)


def test_guidance_switched_on_later_prefills_second_lane(generator):
    state = generator.init_state(PROMPT, CONTROLS)
    generator.generate_chunk(state, [], replace(CONTROLS, guidance=1.5), NEXT)
    assert state.lanes == 2 and state.cache.length == len(state.context) + 1


def test_session_ten_times_longer_than_context_stays_bounded():
    model = tiny_model(context_steps=48)
    gen = ChunkedGenerator(TransformerBackend(model, Tokenizer(), STYLES))
    controls, window = CONTROLS, Window(max_notes=12, seed=7)
    state = gen.init_state(PROMPT, controls)
    cache_bytes = state.cache.k.numel()
    total = 0
    rng = np.random.default_rng(0)
    while total < 10 * 48:
        human = [Note(state.window_start_s - 0.5 + 0.1 * i, 0.1, int(rng.integers(50, 70)), 80) for i in range(3)]
        notes, state = gen.generate_chunk(state, human, controls, window)
        total += len(notes) + len(human)
        assert len(state.context) <= 47 and state.cache.length == len(state.context) + 1
    assert state.dropped_notes > 0
    assert state.cache.k.numel() == cache_bytes


def test_mock_generator_follows_the_same_contract():
    gen = mock_generator(context_steps=32)
    state = gen.init_state(PROMPT, CONTROLS)
    for _ in range(30):
        notes, state = gen.generate_chunk(state, [], CONTROLS, NEXT)
        assert notes and all(n.onset_s >= state.window_start_s - CONTROLS.window_s - 1e-9 for n in notes)
    assert state.dropped_notes > 0 and len(state.context) <= 31


class ChordPiler(MockBackend):
    """A model that always stacks one more note onto the onset it is at (delta 0 whenever allowed), lowest free
    pitch first: what min-p made v2 do once, 40 notes on one onset."""

    def sample(self, cache, controls, c, rng):
        m = c.spec
        free = [p for p in range(m.pitch_low, m.pitch_high + 1) if p not in c.pitches_at_last_onset]
        return m.min_delta, (free or [m.pitch_low])[0], 16, self.tokenizer.duration_bin(0.2)


def test_an_onset_holds_at_most_a_full_chord_and_no_pitch_twice():
    """Without the cap this piled 64 notes onto one onset, pitch 21 struck again and again."""
    generator = ChunkedGenerator(ChordPiler())
    state = generator.init_state(PROMPT, CONTROLS, start_s=PROMPT[-1].onset_s + 0.5)
    notes, _ = generator.generate_chunk(state, [], replace(CONTROLS, window_s=0.5), NEXT)
    by_onset: dict[float, list[int]] = {}
    for n in notes:
        by_onset.setdefault(round(n.onset_s, 3), []).append(n.pitch)
    assert notes and max(len(p) for p in by_onset.values()) == MAX_ONSET_NOTES  # full chords, then a new onset
    assert all(len(p) == len(set(p)) for p in by_onset.values())


def test_a_window_is_checked_and_its_span_explicit(generator):
    """The window's own start and end win over the state's and the controls' window length; nonsense is refused."""
    state = generator.init_state(PROMPT, CONTROLS)
    notes, state = generator.generate_chunk(state, [], CONTROLS, Window(start_s=5.0, end_s=5.5, seed=7))
    assert all(5.0 <= n.onset_s < 5.5 for n in notes) and state.window_start_s == 5.5
    with pytest.raises(ValueError, match="must be after its start"):
        generator.generate_chunk(state, [], CONTROLS, Window(start_s=6.0, end_s=6.0))
    for bad in ({"max_notes": 0}, {"seed": -1}, {"start_s": float("nan")}, {"beat_grid": "120"}):
        with pytest.raises(ValueError):
            Window(**bad)
