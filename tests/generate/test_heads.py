"""One head-and-sample function: the host and device samplers pick the same note; the no-re-strike rule."""

import numpy as np
import pytest
import torch

from tatumflow.generate.constraints import MaskSpec, StepConstraints
from tatumflow.generate.controls import Controls
from tatumflow.generate.heads import (
    DeviceSampler,
    HostSampler,
    ParamLayout,
    constraint_biases,
    mix_lanes,
    restrike_bias,
    sample_note,
    without_restrikes,
)
from tatumflow.generate.inference import InferenceModel

from ..tiny import tiny_model

CONTROLS = [
    Controls(top_k=1),
    Controls(top_p=0.9),
    Controls(temperature=1.4, min_p=0.02, guidance=2.0),
    Controls(top_k=12, head_temperature=(0.5, 1.5, 1.0, 2.0), guidance=0.5),
    Controls(top_p=0.95, head_top_p=(0.8, 0.9, 1.0, 0.7), min_p=0.01),
]


@pytest.mark.parametrize("controls", CONTROLS, ids=["greedy", "top_p", "min_p_guidance", "top_k_heads", "head_top_p"])
def test_host_and_device_samplers_pick_the_same_notes(controls):
    infer = InferenceModel(tiny_model())
    lanes = 2 if controls.guidance != 1.0 else 1
    layout = ParamLayout(infer.cfg.vocab_sizes)
    host_rng, device_rng = torch.Generator().manual_seed(9), torch.Generator().manual_seed(9)
    data = np.random.default_rng(0)
    for trial in range(40):
        c = StepConstraints(MaskSpec(min_delta=trial % 3, pitch_low=20, pitch_high=70, max_duration_bin=40),
                            pitches_at_last_onset=frozenset(int(p) for p in data.integers(20, 70, 3)),
                            pitch_bias=data.normal(0, 1, 88) if trial % 2 else None,
                            meter_bias=data.normal(0, 2, infer.cfg.vocab_sizes[0]) if trial % 3 else None,
                            meter_from=4)
        biases = constraint_biases(c.spec, infer.cfg.vocab_sizes)
        h = torch.randn(lanes, infer.cfg.d_model, generator=torch.Generator().manual_seed(trial)) * 3
        want = sample_note(infer, h, HostSampler(controls, host_rng, biases, c))
        params = np.zeros(layout.size)
        modes = layout.pack(params, controls, biases, c, device_rng, position=0)
        cache_hidden = h[:, None]  # the hidden state at position 0
        sampler = DeviceSampler(torch.from_numpy(params), layout, modes, lanes, c.meter_bias is not None)
        got = sample_note(infer, cache_hidden.index_select(1, sampler.position())[:, 0], sampler)
        assert [int(x) for x in got] == want, trial
        assert 20 <= want[1] <= 70 and want[0] >= c.spec.min_delta and want[3] <= 40


def test_no_restrike_at_delta_zero_unless_every_pitch_is_excluded():
    onset = torch.from_numpy(restrike_bias(frozenset({1, 2}), np.empty(4)))
    x = torch.tensor([0.5, 1.0, 2.0, float("-inf")])
    assert without_restrikes(x, onset, True).tolist() == [0.5, float("-inf"), float("-inf"), float("-inf")]
    assert torch.equal(without_restrikes(x, onset, torch.tensor([False])), x)
    only = torch.tensor([float("-inf"), 1.0, 2.0, float("-inf")])  # excluding 1 and 2 would leave nothing
    assert torch.equal(without_restrikes(only, onset, True), only)
    assert restrike_bias(frozenset(), np.ones(3)).tolist() == [0.0, 0.0, 0.0]


def test_mix_lanes_is_classifier_free_guidance():
    logits = torch.tensor([[3.0, 1.0], [1.0, 1.0]])  # conditional, unconditional
    assert mix_lanes(logits, 2.0).tolist() == [5.0, 1.0]
    assert mix_lanes(logits[:1], 2.0).tolist() == [3.0, 1.0]


def test_legato_tilts_the_duration_head_and_lengthens_the_notes():
    from tatumflow.generate.heads import LEGATO_REFERENCE_S, legato_tilt
    from tatumflow.model.tokenizer import Tokenizer

    values = Tokenizer().duration_values_s
    tilt = legato_tilt(0.5, values)
    ref = int(np.argmin(abs(np.log(values / LEGATO_REFERENCE_S))))
    assert abs(float(tilt[ref])) < 0.04 and float(tilt[-1]) > 0 > float(tilt[0])
    # each doubling of a duration multiplies its odds by 2 ** legato
    assert float(tilt[20] - tilt[14]) == pytest.approx(0.5 * np.log(values[20] / values[14]))
    spec = MaskSpec(max_duration_bin=40, legato=0.5)
    assert np.isinf(constraint_biases(spec, (400, 88, 32, 64), values)[3][41:]).all()  # the mask stays a mask
    with pytest.raises(ValueError, match="legato"):
        constraint_biases(spec, (400, 88, 32, 64))

    infer = InferenceModel(tiny_model())
    h = torch.randn(200, 1, infer.cfg.d_model, generator=torch.Generator().manual_seed(0))

    def mean_duration(legato: float) -> float:
        c = StepConstraints(MaskSpec(legato=legato))
        biases = constraint_biases(c.spec, infer.cfg.vocab_sizes, values)
        rng = torch.Generator().manual_seed(1)
        return float(np.mean([values[sample_note(infer, x, HostSampler(Controls(), rng, biases, c))[3]] for x in h]))

    assert mean_duration(-1.0) < mean_duration(0.0) < mean_duration(1.0)


def test_head_top_p_truncates_only_the_heads_it_names():
    """The nucleus of each head is min(top_p, head_top_p[k]): a tail the pitch head loses, the duration head keeps."""
    from tatumflow.model.tokenizer import DURATION, PITCH

    controls = Controls(head_top_p=(1.0, 0.9, 1.0, 1.0))
    assert [controls.nucleus(k) for k in range(4)] == [1.0, 0.9, 1.0, 1.0]
    assert Controls(top_p=0.8, head_top_p=(1.0, 0.9, 1.0, 1.0)).nucleus(PITCH) == 0.8
    logits = torch.full((1, 64), -30.0)
    logits[0, :4] = 0.0  # 4 values with ~92 % of the mass ...
    logits[0, 40:] = float(np.log(0.35 / 24))  # ... and a long tail of 24 with ~8 %
    c = StepConstraints(MaskSpec(min_delta=0, pitch_low=0, pitch_high=87, max_duration_bin=63))
    rng = torch.Generator().manual_seed(0)
    sampler = HostSampler(controls, rng, [np.zeros(64)] * 4, c)
    pitches = [sampler.choose(PITCH, logits, [1, 0, 0, 0]) for _ in range(400)]
    durations = [sampler.choose(DURATION, logits, [1, 0, 0, 0]) for _ in range(400)]
    assert max(pitches) < 4  # the tail is outside the pitch head's 90 % nucleus
    assert 10 < sum(d >= 40 for d in durations) < 70  # the duration head samples its tail (~8 % of 400)


@pytest.mark.parametrize("bad", [(1.0, 1.0, 1.0), (1.0, 1.0, 1.0, 0.0), (1.0, 1.0, 1.0, 1.5)])
def test_head_top_p_rejects_nonsense(bad):
    with pytest.raises(ValueError, match="head_top_p"):
        Controls(head_top_p=bad)


def test_a_windows_draws_in_blocks_are_the_numbers_drawn_four_at_a_time():
    """`Draws` takes its uniforms from one torch call per block: the same numbers, in the same order, as the four
    a note the sampler drew before (so a seed plays the same notes)."""
    from tatumflow.generate.sampling import Draws

    draws = Draws(torch.Generator().manual_seed(3), block=64)
    rng = torch.Generator().manual_seed(3)
    want = [x for _ in range(50) for x in torch.rand(4, dtype=torch.float64, generator=rng).tolist()]
    assert [draws.take() for _ in range(200)] == want
    assert Draws.of(draws) is draws and Draws.of(rng).block == 4
