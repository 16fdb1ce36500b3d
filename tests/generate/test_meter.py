"""The meter prior: on-grid deltas untouched, off-grid ones lowered by at most weight * log(floor), chords and their
spread free, and the odds of a chord note against the next onset kept per note (heads.meter_term)."""

import math

import numpy as np
import pytest

from tatumflow.generate.meter import FLOOR, grid_nudge_s, meter_bias
from tatumflow.generate.window import Window
from tatumflow.timing.grid import BeatGrid


def test_no_grid_or_no_weight_is_no_bias():
    assert meter_bias(None, 0.0, 400, 0.01, 1.0) is None
    assert meter_bias(BeatGrid(120, 0.0), 0.0, 400, 0.01, 0.0) is None


def test_grid_positions_are_favoured_and_nothing_is_excluded():
    grid = BeatGrid(120, 0.0)  # beat 0.5 s: 16ths every 125 ms, triplets every ~167 ms
    bias = meter_bias(grid, 0.0, 400, 0.01, 1.0)
    assert bias.shape == (400,) and (bias[:4] == 0.0).all()  # a chord note, and a chord's spread (< 40 ms)
    on = bias[[25, 50, 100]]  # 250 ms (8th), 500 ms (beat), 1 s
    assert on == pytest.approx(np.full(3, bias.max()))
    assert bias[6] < bias.max() - 1.0  # 60 ms: between 0 and the 16th at 125 ms
    assert np.isfinite(bias).all() and bias.max() - bias[4:].min() <= math.log((1 + FLOOR) / FLOOR) + 1e-9


def test_the_tolerance_is_a_share_of_the_beat_at_fast_tempos():
    """At 160 bpm grid positions are 31 ms apart: a fixed 15 ms tolerance would hardly tell an onset between two of
    them from one on either (0.48 nats against 1.32 at 96 bpm before the tolerance scaled); the drop from the 16th
    to halfway to the triplet 8th (0.042 beats) is now the same share at every tempo."""
    drops = {}
    for bpm in (96.0, 120.0, 160.0, 240.0):
        grid = BeatGrid(bpm, 0.0)
        bias = meter_bias(grid, 0.0, 400, 0.001, 1.0)  # 1 ms deltas: the onset at k ms
        sixteenth = grid.period_s / 4
        between = (sixteenth + grid.period_s / 3) / 2
        drops[bpm] = bias[round(sixteenth * 1000)] - bias[round(between * 1000)]
    assert min(drops.values()) > 1.5 and max(drops.values()) - min(drops.values()) < 0.1, drops


def test_onsets_within_half_a_token_step_of_a_position_are_put_on_it_and_no_others():
    grid = BeatGrid(200.0, 0.003)  # 16ths every 75 ms from 3 ms: between the 10 ms lattice points
    assert grid_nudge_s(grid, 0.080, 0.01) == pytest.approx(-0.002)  # the 16th at 78 ms
    assert grid_nudge_s(grid, 0.060, 0.01) == 0.0  # 18 ms before the 16th, 43 ms after the beat: left alone
    assert grid_nudge_s(None, 0.080, 0.01) == 0.0
    even = BeatGrid(120.0, 0.0)  # the 16th at 125 ms, exactly half a step from the lattice point at 120
    assert grid_nudge_s(even, 0.120, 0.01) == pytest.approx(0.00499)  # under half a step ...
    assert round((0.120 + grid_nudge_s(even, 0.120, 0.01)) / 0.01) == 12  # ... so it keeps its token step


def test_the_grid_phase_follows_the_previous_onset():
    grid = BeatGrid(120, 0.0)
    shifted = meter_bias(grid, 0.06, 400, 0.01, 1.0)  # the previous note was 60 ms late
    assert shifted[19] > shifted[25]  # 0.06 + 0.19 = 0.25 (on the 8th) beats 0.06 + 0.25 = 0.31
    stronger = meter_bias(grid, 0.06, 400, 0.01, 2.0)
    assert stronger[19] - stronger[25] == pytest.approx(2 * (shifted[19] - shifted[25]))


def test_the_generator_leans_toward_the_grid_with_the_meter_prior(generator):
    from dataclasses import replace

    from tatumflow.generate.controls import Controls
    from tatumflow.notes import Note

    grid = BeatGrid(100, 0.0)
    prompt = [Note(i * 0.3, 0.2, 60 + i % 5, 80) for i in range(8)]
    base = Controls(style={"Art Tatum": 1.0}, window_s=6.0)

    def distances(controls):
        out = []
        for seed in range(4):
            state = generator.init_state(prompt, controls)
            notes, _ = generator.generate_chunk(state, [], controls, Window(beat_grid=grid, seed=seed))
            out.extend(grid.subdivision_distance_beats([n.onset_s for n in notes]))
        return np.median(out)

    free = distances(base)
    leaning = distances(replace(base, meter_weight=3.0))
    assert leaning < 0.5 * free
    with pytest.raises(ValueError, match="meter_weight"):
        replace(base, meter_weight=-1.0)


def test_density_shifts_the_gaps(generator):
    from dataclasses import replace

    from tatumflow.generate.controls import Controls
    from tatumflow.notes import Note

    prompt = [Note(i * 0.3, 0.2, 60 + i % 5, 80) for i in range(8)]
    base = Controls(style={"Art Tatum": 1.0}, window_s=4.0)
    counts = {}
    for density in (-2.0, 0.0, 2.0):
        state = generator.init_state(prompt, base)
        notes, _ = generator.generate_chunk(state, [], replace(base, density=density), Window(seed=1))
        counts[density] = len(notes)
    assert counts[-2.0] < counts[0.0] < counts[2.0]


def test_repeat_penalty_breaks_a_repeated_top_line():
    """A model made to love one pitch re-strikes it as its top note onset after onset; the penalty breaks that."""
    from dataclasses import replace

    import torch

    from tatumflow.generate.backend import TransformerBackend
    from tatumflow.generate.controls import Controls
    from tatumflow.generate.generator import ChunkedGenerator
    from tatumflow.model.tokenizer import Tokenizer
    from tatumflow.notes import PIANO_LOW, Note

    from ..tiny import STYLES, tiny_model

    model = tiny_model()
    with torch.no_grad():
        model.heads[1].out.bias[72 - PIANO_LOW] += 6.0  # pitch 72 far likelier than any other
        model.heads[0].out.bias[10] += 8.0  # and one note every 100 ms (no chords)
    generator = ChunkedGenerator(TransformerBackend(model, Tokenizer(), STYLES))
    prompt = [Note(i * 0.25, 0.2, 72, 80) for i in range(16)]
    base = Controls(style={"Art Tatum": 1.0}, window_s=4.0)

    def repeats(controls):
        count = total = 0
        for seed in range(3):
            state = generator.init_state(prompt, controls)
            notes, _ = generator.generate_chunk(state, [], controls, Window(seed=seed))
            tops: dict[float, int] = {}
            for n in notes:
                tops[round(n.onset_s, 2)] = max(tops.get(round(n.onset_s, 2), 0), n.pitch)
            line = [tops[k] for k in sorted(tops)]
            count += sum(a == b for a, b in zip(line, line[1:], strict=False))
            total += max(len(line) - 1, 1)
        return count / total

    plain, penalised = repeats(base), repeats(replace(base, repeat_penalty=8.0))
    assert plain > 0.5  # the setup really repeats
    assert penalised < 0.2 * plain


def test_offline_continuations_take_the_prompts_tempo():
    from tatumflow.generate.continuation import with_prompt_grid
    from tatumflow.generate.controls import Controls
    from tatumflow.notes import Note

    steady = [Note(i * 0.5, 0.3, 60 + (i % 3), 90) for i in range(30)]
    steady += [Note(i * 0.5 + 0.25, 0.2, 67, 60) for i in range(30)]
    on = Controls(meter_weight=1.0)
    grid = with_prompt_grid(on, Window(), steady).beat_grid
    assert grid is not None and grid.bpm == pytest.approx(120, rel=0.03)
    assert with_prompt_grid(Controls(), Window(), steady).beat_grid is None  # the prior off: no grid needed
    given = Window(beat_grid=BeatGrid(90, 0.0))
    assert with_prompt_grid(on, given, steady) is given  # a grid given is kept
    rng = np.random.default_rng(0)
    free = [Note(float(t), 0.2, 60, 80) for t in np.sort(rng.uniform(0, 15, 120))]
    assert with_prompt_grid(on, Window(), free).beat_grid is None  # no clear tempo: no grid


def test_a_note_is_never_put_on_the_grid_before_its_window(generator):
    """The window starts 3 ms after a beat: a first note sampled at the window's start is 3 ms from the beat, but
    putting it there would place it before the window (a grammar error in the eval, once in ~150 continuations)."""

    from tatumflow.generate.controls import Controls
    from tatumflow.notes import Note

    prompt = [Note(i * 0.3, 0.2, 60 + i % 5, 80) for i in range(8)]
    start = 2.4
    controls = Controls(style={"Art Tatum": 1.0}, window_s=3.0, meter_weight=2.0)
    firsts = []
    for seed in range(12):
        state = generator.init_state(prompt, controls, start_s=start)
        window = Window(end_s=start + 3.0, beat_grid=BeatGrid(120, start - 0.003), seed=seed)
        notes, _ = generator.generate_chunk(state, [], controls, window)
        if notes:
            assert min(n.onset_s for n in notes) >= start, (seed, notes[:2])
            firsts.append(notes[0].onset_s)
    assert any(abs(t - start) < 1e-9 for t in firsts), firsts  # the case arises: a first note at the window's start


def test_the_sampler_keeps_the_models_odds_of_a_chord_note_against_the_next_onset():
    """Centred on a uniform distribution, the prior raised or lowered the chance of delta 0 by how much of the
    model's own mass sat on the grid: v2's chords grew from 2.02 to 2.24 notes per onset (Tatum 2.05)."""
    import torch

    from tatumflow.generate.constraints import StepConstraints
    from tatumflow.generate.controls import Controls
    from tatumflow.generate.heads import HostSampler, meter_far, meter_term
    from tatumflow.generate.meter import first_meter_delta

    grid = BeatGrid(120, 0.0)
    bias = meter_bias(grid, 0.0, 400, 0.01, 2.0)
    c = StepConstraints(meter_bias=bias, meter_from=first_meter_delta(0.01))
    assert c.meter_from == 4
    logits = torch.full((400,), -30.0)
    logits[0], logits[2] = 1.0, 0.0  # a chord note, or a note 20 ms later
    logits[6:14] = 0.5  # a model whose next onset is mostly off the grid (60-130 ms; the 16th is at 125 ms)
    far = meter_far(c, 400)
    for t in (1.0, 0.7):
        term = meter_term(logits.double(), torch.from_numpy(bias), far, t)
        before = torch.softmax(logits.double() / t, 0)
        after = torch.softmax((logits.double() + term) / t, 0)
        assert float(after[:4].sum()) == pytest.approx(float(before[:4].sum()), abs=1e-12)
        assert float(after[12:14].sum()) > 2 * float(before[12:14].sum())  # the next onset moved toward the 16th

    sampler = HostSampler(Controls(), torch.Generator().manual_seed(0), [np.zeros(400)] * 4, c)
    draws = [sampler.choose(0, logits[None], []) for _ in range(4000)]
    p_chord = float(torch.softmax(logits.double(), 0)[0])
    assert np.mean(np.array(draws) == 0) == pytest.approx(p_chord, abs=0.03)


def test_a_note_a_token_step_after_a_nudged_one_is_not_nudged_onto_it():
    """120 bpm: a 16th at 0.125 s lies half a token step from the lattice points 0.12 and 0.13. A note sampled at
    0.12 moves onto it (0.12499); the next, sampled one step later (delta 1: a new onset, which the no-re-strike rule
    does not cover), would move onto it too (0.12501) and, at the same pitch, sound twice at once (seen over charts:
    self-overlaps 20 us apart). It stays on its own lattice point instead."""
    from tatumflow.generate.controls import Controls
    from tatumflow.generate.generator import ChunkedGenerator
    from tatumflow.generate.mock import MockBackend
    from tatumflow.notes import Note

    class Scripted(MockBackend):
        def __init__(self, script):
            super().__init__()
            self.script = list(script)

        def sample(self, cache, controls, c, rng):
            return self.script.pop(0) if self.script else (399, 40, 16, 5)

    gen = ChunkedGenerator(Scripted([(12, 40, 16, 5), (1, 40, 16, 5), (1, 41, 16, 5)]))
    controls = Controls(meter_weight=1.0, window_s=1.0)
    state = gen.init_state([Note(0.0, 0.1, 60, 80)], controls, start_s=0.01)
    notes, _ = gen.generate_chunk(state, [], controls, Window(max_notes=3, beat_grid=BeatGrid(120.0, 0.0)))
    onsets = [round(n.onset_s, 5) for n in notes]
    assert onsets[0] == pytest.approx(0.125, abs=1e-4)  # nudged onto the 16th
    assert onsets[1:] == [0.13, 0.14]  # one and two steps later: left on the lattice
    assert notes[0].end_s <= notes[1].onset_s + 1e-9  # the re-struck pitch ends first
