"""The native decode step (C): the same numbers as the torch step, the same notes as the step it replaced (the
generator at commit fdcd752, loaded from git), fp16 weights within the KL bound, and a clean fallback where it
cannot be built. Also the window priors prepared once per window against the per-note functions they replace."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from tatumflow.generate import native
from tatumflow.generate.backend import TransformerBackend
from tatumflow.generate.controls import Controls
from tatumflow.generate.generator import ChunkedGenerator
from tatumflow.generate.harmony import harmony_bias, log_prior_table
from tatumflow.generate.meter import meter_bias
from tatumflow.generate.native.step import NativeStep
from tatumflow.generate.priors import WindowPriors
from tatumflow.generate.window import Window
from tatumflow.model.checkpoint import default_checkpoint_dir, load_checkpoint
from tatumflow.model.kvcache import KVCache
from tatumflow.model.tokenizer import Tokenizer
from tatumflow.notes import Note, read_midi
from tatumflow.presets import load_preset, preset_names
from tatumflow.timing.grid import BeatGrid

from ..tiny import STYLES, random_steps, tiny_model

needs_native = pytest.mark.skipif(native.library() is None, reason=f"no native step: {native.unavailable_reason()}")
PIJAMA = Path(__file__).resolve().parents[3] / "shared" / "data" / "pijama"


@needs_native
@pytest.mark.parametrize("lanes", [1, 2])
def test_native_step_and_heads_compute_what_the_torch_step_computes(lanes):
    backend = TransformerBackend(tiny_model(), Tokenizer(), STYLES, "cpu", step_path="dynamic")
    infer = backend.infer
    assert infer is not None
    step = NativeStep(infer, native.library())
    style = backend.style_vectors(Controls(guidance=2.0 if lanes == 2 else 1.0), lanes)
    a, b = KVCache(infer.cfg, lanes), KVCache(infer.cfg, lanes)
    prompt = random_steps(30).expand(lanes, -1, -1)
    infer.prefill(a, prompt, style)
    infer.prefill(b, prompt, style)
    for fields in random_steps(8, seed=1)[0]:
        infer.prefill(a, fields.view(1, 1, 4).expand(lanes, 1, 4), style)  # the torch step
        step.feed(b, fields.numpy(), style)  # the C step
        assert a.length == b.length
        n = a.length
        for x, y in ((a.k, b.k), (a.v, b.v), (a.hidden, b.hidden)):
            assert torch.allclose(x[..., :n, :] if x.dim() == 5 else x[:, :n], y[..., :n, :] if y.dim() == 5
                                  else y[:, :n], atol=2e-5, rtol=1e-5)
        h = a.hidden[:, n - 1].contiguous()
        for k in range(4):
            want = infer.head_logits(k, h).numpy()
            np.testing.assert_allclose(step.head_logits(b, k, h.numpy()), want, atol=2e-5, rtol=1e-5)


@needs_native
def test_fp16_weights_move_each_head_by_less_than_a_millionth_of_a_nat():
    ckpt = load_checkpoint(default_checkpoint_dir(), "cpu")
    backend = TransformerBackend(ckpt.model, ckpt.tokenizer, ckpt.styles, "cpu", step_path="dynamic", weights="fp32")
    infer = backend.infer
    assert infer is not None
    full, half = NativeStep(infer, native.library()), NativeStep(infer, native.library(), half=True)
    style = backend.style_vectors(Controls(), 1)
    caches = [KVCache(infer.cfg, 1) for _ in range(2)]
    for cache in caches:
        infer.prefill(cache, torch.as_tensor(ckpt.tokenizer.steps_after(None, _dense(120)))[None], style)
    worst = 0.0
    for fields in torch.as_tensor(ckpt.tokenizer.steps_after(None, _dense(40, seed=3))):
        for step, cache in zip((full, half), caches):
            step.feed(cache, fields.numpy(), style)
        for k in range(4):
            p, q = (torch.log_softmax(torch.from_numpy(s.head_logits(c, k, c.hidden[:, c.length - 1].numpy()))
                                      .double(), -1) for s, c in zip((full, half), caches))
            worst = max(worst, float((p.exp() * (p - q)).sum()))
    assert 0 < worst < 1e-6


def test_a_machine_without_a_compiler_decodes_on_the_torch_path(monkeypatch, tmp_path):
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises((RuntimeError, OSError)):
        native.build()
    monkeypatch.setattr(native, "library", lambda: None)
    backend = TransformerBackend(tiny_model(), Tokenizer(), STYLES, "cpu")
    assert backend.step_path == "dynamic" and backend.native is None
    with pytest.raises(ValueError, match="native decode step is unavailable"):
        TransformerBackend(tiny_model(), Tokenizer(), STYLES, "cpu", step_path="native")
    gen = ChunkedGenerator(backend)
    controls = Controls(window_s=30.0)
    notes, _ = gen.generate_chunk(gen.init_state(_dense(20), controls), [], controls, Window(max_notes=8))
    assert len(notes) == 8


# -- the same notes as the step it replaced -------------------------------------------------------------------------
PRIORS = {  # a change of the controls; "beat_grid" goes to the window
    "preset": {},
    "meter_132": {"beat_grid": BeatGrid(132, 0.05)},
    "guidance_2": {"guidance": 2.0},
    "density_legato": {"density": 1.0, "legato": 0.3, "repeat_penalty": 0.0},
    "left_hand": {"pitch_low": 36, "pitch_high": 60, "max_duration_s": 0.5, "harmony_weight": 0.5},
    "greedy_min_p": {"top_k": 1, "min_p": 0.05},
}


def _real_prompts() -> list[list[Note]]:
    files = sorted((PIJAMA / "kong").glob("*/Art Tatum/*/*.midi"))[:2]
    if not files:
        pytest.skip(f"PiJAMA not found at {PIJAMA}")
    out = []
    for f in files:
        notes = read_midi(f)
        start = notes[len(notes) // 3].onset_s
        out.append([n.shifted(-start) for n in notes if start <= n.onset_s < start + 12.0])
    return out


@needs_native
@pytest.mark.corpus
@pytest.mark.parametrize("preset", preset_names())
def test_the_native_step_plays_the_notes_of_the_step_it_replaced(preset):
    from tatumflow.bench.legacy import LegacyUnavailable, legacy_controls, legacy_generator

    try:
        old = legacy_generator(default_checkpoint_dir())
    except LegacyUnavailable as err:
        pytest.skip(str(err))
    new = ChunkedGenerator(TransformerBackend(*_checkpoint(), "cpu", weights="fp32"))
    assert new.backend.step_path == "native"
    base = load_preset(preset).controls
    i = preset_names().index(preset) % 2  # each preset on one of the two prompts: both are covered
    prompt = _real_prompts()[i]
    for name, change in PRIORS.items():
        window = Window(beat_grid=change.get("beat_grid"), seed=11 + i)
        controls = replace(base, **{k: v for k, v in change.items() if k != "beat_grid"})
        old_controls = legacy_controls(controls, window)
        a, b = old.init_state(prompt, old_controls), new.init_state(prompt, controls)
        for _ in range(2):
            want, _ = old.generate_chunk(a, [], old_controls)
            got, _ = new.generate_chunk(b, [], controls, window)
            assert [_fields(n) for n in got] == [_fields(n) for n in want], (preset, name, i)


def _fields(n: Note) -> tuple[float, float, int, int]:  # the old package's Note is another class
    return n.onset_s, n.duration_s, n.pitch, n.velocity


def _checkpoint() -> tuple:
    ckpt = load_checkpoint(default_checkpoint_dir(), "cpu")
    return ckpt.model, ckpt.tokenizer, ckpt.styles


# -- window priors -----------------------------------------------------------------------------------------------------
def test_window_priors_give_each_note_what_the_per_note_priors_gave():
    tok = Tokenizer()
    grid = BeatGrid(97, 0.013)
    heard = _dense(60)
    controls = Controls(harmony_weight=0.3, meter_weight=2.0, legato=0.2, density=-0.5,
                        pitch_low=30, pitch_high=90, max_duration_s=2.0)
    table = log_prior_table(heard)
    window = Window(beat_grid=grid)
    priors = WindowPriors(tok, controls, window, table, end_s=14.0)
    for last_q in (1000, 1003, 1250, 1399, 900, 2000):
        want = meter_bias(grid, last_q * tok.config.grid_s, tok.config.n_delta, tok.config.grid_s, 2.0)
        np.testing.assert_allclose(priors.meter(last_q), want, rtol=1e-9, atol=1e-9)
    for pitch in (21, 60, 61, 108):
        np.testing.assert_array_equal(priors.pitch_bias(pitch), harmony_bias(table, pitch, 0.3))
    spec = priors.spec(3)
    assert (spec.min_delta, spec.pitch_low, spec.pitch_high, spec.legato, spec.density) == (3, 9, 69, 0.2, -0.5)
    assert spec.max_duration_bin == tok.duration_bin(2.0) and priors.spec(3) is spec
    assert WindowPriors(tok, controls, Window(), None, 14.0).meter(1000) is None
    assert WindowPriors(tok, controls, window, None, 14.0).pitch_bias(60) is None


def _dense(n: int, seed: int = 0) -> list[Note]:
    rng = np.random.default_rng(seed)
    t, out = 0.0, []
    for _ in range(n):
        t += float(rng.choice([0.0, 0.08, 0.12, 0.25]))
        out.append(Note(t, float(rng.uniform(0.05, 0.6)), int(rng.integers(36, 96)), int(rng.integers(40, 110))))
    return out


@needs_native
@pytest.mark.parametrize("setting", [dict(), dict(top_p=0.9), dict(top_k=5), dict(top_k=1), dict(min_p=0.05),
                                     dict(top_p=0.98, min_p=0.02, guidance=2.0), dict(meter=True),
                                     dict(meter=True, top_p=0.95, guidance=1.5)])
def test_the_c_sampler_draws_what_the_numpy_sampler_draws(setting):
    """`NativeStep.sample_field` against `HostSampler`'s numpy arithmetic, on the same logits, biases and draws."""
    from tatumflow.generate.constraints import MaskSpec, StepConstraints
    from tatumflow.generate.heads import HostSampler, constraint_biases

    backend = TransformerBackend(tiny_model(), Tokenizer(), STYLES, "cpu", step_path="dynamic")
    assert backend.infer is not None
    step = NativeStep(backend.infer, native.library())
    data = np.random.default_rng(5)
    controls = Controls(top_p=setting.get("top_p", 1.0), top_k=setting.get("top_k", 0),
                        min_p=setting.get("min_p", 0.0), guidance=setting.get("guidance", 1.0), temperature=0.9)
    lanes = 2 if controls.guidance != 1.0 else 1
    for trial in range(60):
        spec = MaskSpec(min_delta=trial % 4, pitch_low=10, pitch_high=70, max_duration_bin=50)
        meter = data.normal(0, 2, 400) if setting.get("meter") else None
        c = StepConstraints(spec, pitch_bias=data.normal(0, 1, 88), meter_bias=meter, meter_from=4)
        biases = constraint_biases(spec, (400, 88, 32, 64))
        logits = [data.normal(0, 3, (lanes, v)).astype(np.float32) for v in (400, 88, 32, 64)]
        sampler = HostSampler(controls, torch.Generator().manual_seed(trial), biases, c)
        want = [sampler.choose(k, logits[k], [trial % 3, 0, 0]) for k in range(4)]
        rng = torch.Generator().manual_seed(trial)  # the same uniforms, in the same order
        got = []
        for k in range(4):
            u = 0.0 if controls.greedy else float(torch.rand((), dtype=torch.float64, generator=rng))
            bias = sampler.pitch_bias(trial % 3, np.empty(88)) if k == 1 else biases[k]
            got.append(step.sample_field(logits[k], controls.guidance, bias, meter if k == 0 else None, 4,
                                         0.9, controls.top_k, controls.nucleus(k), controls.min_p, u))
        assert got == want, trial


@needs_native
def test_the_c_pitch_bias_is_the_samplers():
    """`tf_pitch_bias` (what tf_note adds to the pitch head) against `HostSampler.pitch_bias`, value for value: the
    no-re-strike rule, the onset's own bias, the pitch priors, and every pitch struck (the rule then gives way)."""
    from tatumflow.generate.constraints import MaskSpec, StepConstraints
    from tatumflow.generate.heads import HostSampler, constraint_biases

    backend = TransformerBackend(tiny_model(), Tokenizer(), STYLES, "cpu", step_path="dynamic")
    assert backend.infer is not None
    step = NativeStep(backend.infer, native.library())
    data = np.random.default_rng(8)
    biases = constraint_biases(MaskSpec(pitch_low=20, pitch_high=60), (400, 88, 32, 64))
    for trial in range(40):
        struck = frozenset(range(20, 61)) if trial % 10 == 9 else frozenset(data.choice(88, trial % 5, replace=False))
        c = StepConstraints(MaskSpec(pitch_low=20, pitch_high=60), pitches_at_last_onset=struck,
                            pitch_bias=data.normal(0, 1, 88) if trial % 2 else None,
                            onset_pitch_bias=data.normal(0, 1, 88) if trial % 3 else None)
        sampler = HostSampler(Controls(), torch.Generator().manual_seed(trial), biases, c)
        for delta in (0, 1, 7):
            want = sampler.pitch_bias(delta, np.empty(88))
            np.testing.assert_array_equal(step.pitch_bias(sampler, delta), want)
