"""The harmony prior: its statistics, what feeds them, and its effect on the pitches sampled."""

from collections import Counter
from dataclasses import replace

import numpy as np
import pytest

from tatumflow.generate import harmony
from tatumflow.generate.controls import Controls
from tatumflow.notes import Note

from .test_generator import CONTROLS, NEXT

C_MAJOR_ARPEGGIO = [Note(0.2 * i, 0.2, (60, 64, 67, 72)[i % 4], 70) for i in range(64)]


def test_transition_rows_are_smoothed_distributions():
    pcs = np.array([0, 4, 7, 0, 4, 7, 0])
    probs = harmony.transition_probs(pcs)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert (probs > 0).all()  # nothing is forbidden
    assert probs[0].argmax() == 4 and probs[4].argmax() == 7 and probs[7].argmax() == 0
    assert probs[0, 4] > 10 * probs[0, 1]  # a transition heard beats one never heard


def test_bias_over_keys_follows_pitch_class():
    table = harmony.log_prior_table(C_MAJOR_ARPEGGIO)
    bias = harmony.harmony_bias(table, previous_pitch=64, weight=1.0)
    assert bias.shape == (88,)
    key = {p: p - 21 for p in range(21, 109)}
    assert bias[key[67]] == pytest.approx(bias[key[79]])  # G4 and G5: same class, same bias
    assert bias[key[67]] == bias.max() and bias[key[66]] < bias[key[67]] - 2.0
    assert harmony.harmony_bias(table, 64, weight=0.0) is None
    assert harmony.log_prior_table([]) is None and harmony.harmony_bias(None, 64, weight=1.0) is None
    half = harmony.harmony_bias(table, 64, weight=0.5)
    np.testing.assert_allclose(half, bias / 2)


def test_controls_validate_the_weight():
    with pytest.raises(ValueError, match="harmony_weight"):
        Controls(harmony_weight=-0.1)
    with pytest.raises(ValueError, match="harmony_weight"):
        Controls(harmony_weight=5.0)


def test_only_heard_notes_feed_the_prior(generator):
    state = generator.init_state(C_MAJOR_ARPEGGIO[:8], CONTROLS)
    assert state.heard == C_MAJOR_ARPEGGIO[:8]
    generator.generate_chunk(state, [], CONTROLS, NEXT)  # the model's own notes
    assert state.heard == C_MAJOR_ARPEGGIO[:8]
    later = [Note(state.window_start_s + 0.1, 0.2, 65, 70)]
    generator.generate_chunk(state, later, CONTROLS, NEXT)  # the human again
    assert state.heard[-1] == later[0]
    generator.absorb(state, [Note(state.window_start_s + 0.5, 0.2, 70, 70)], CONTROLS, heard=False)
    assert state.heard[-1] == later[0]
    np.testing.assert_array_equal(state.harmony_table, harmony.log_prior_table(state.heard))


def _pitch_classes(generator, controls, windows=6):
    state = generator.init_state(C_MAJOR_ARPEGGIO, controls)
    counts = Counter()
    for _ in range(windows):
        notes, state = generator.generate_chunk(state, [], controls, NEXT)
        counts.update(n.pitch % 12 for n in notes)
    return counts


def test_prior_steers_a_random_network_toward_the_heard_harmony(generator):
    """The tiny random network picks pitch classes about uniformly; with the prior, mostly C, E and G."""
    plain = _pitch_classes(generator, CONTROLS)
    steered = _pitch_classes(generator, replace(CONTROLS, harmony_weight=2.0))
    share = lambda c: sum(c[pc] for pc in (0, 4, 7)) / max(sum(c.values()), 1)  # noqa: E731
    assert sum(steered.values()) > 20
    assert share(plain) < 0.5 < 0.8 < share(steered)

