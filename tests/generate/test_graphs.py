"""The static decode step (graphs.py): the same notes as the dynamic path, capturable, and CUDA graphs where a GPU is.

Also the two samplers' arithmetic: `sample_index` (device, torch) draws what `sample_field` (host, numpy) draws."""

import shutil
from dataclasses import replace

import numpy as np
import pytest
import torch

from tatumflow.generate import graphs, native
from tatumflow.generate.backend import FP16_MIN_PARAMETERS, TransformerBackend
from tatumflow.generate.controls import Controls
from tatumflow.generate.generator import ChunkedGenerator
from tatumflow.generate.inference import fp16_weights_available
from tatumflow.generate.sampling import GREEDY, sample_field, sample_index, sampling_mode
from tatumflow.generate.window import FOLLOW_ON, Window
from tatumflow.model.kvcache import KVCache
from tatumflow.model.tokenizer import Tokenizer
from tatumflow.model.transformer import ModelConfig, NoteTransformer
from tatumflow.notes import Note
from tatumflow.timing.grid import BeatGrid

from ..tiny import STYLES, random_steps, tiny_model
from .test_inference import PROMPT

SETTINGS = [  # (temperature, top_k, top_p, min_p)
    (1.0, 1, 1.0, 0.0),
    (1.0, 0, 1.0, 0.0),
    (0.7, 0, 1.0, 0.1),
    (0.95, 0, 0.95, 0.0),
    (1.3, 12, 1.0, 0.0),
    (0.8, 30, 0.6, 0.05),
]


@pytest.mark.parametrize("vocab", [7, 88, 400])
@pytest.mark.parametrize("setting", SETTINGS)
def test_sample_index_draws_what_sample_field_draws(vocab, setting):
    """Same logits, same masks, same uniforms: the same index, every time (ties and -inf included)."""
    temperature, top_k, top_p, min_p = setting
    mode = sampling_mode(top_k, top_p, vocab)
    data = np.random.default_rng(vocab)
    rng_cpu, rng_dev = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    scalar = {"dtype": torch.float64}
    for trial in range(150):
        logits = torch.from_numpy(data.normal(0, 3, vocab).astype(np.float32))
        if trial % 3 == 0:
            logits[: vocab // 2] = logits[0]  # ties
        bias = torch.zeros(vocab)
        bias[data.random(vocab) < 0.3] = float("-inf")
        bias[int(data.integers(vocab))] = 0.0  # at least one allowed
        want = sample_field(logits, temperature, rng_cpu, top_k, top_p, min_p, bias=bias)
        u = torch.zeros(1, **scalar) if mode == GREEDY else torch.rand((), generator=rng_dev, **scalar).reshape(1)
        got = sample_index(logits.double() + bias.double(), mode, torch.tensor(temperature, **scalar),
                           torch.tensor(top_k), torch.tensor(top_p, **scalar), torch.tensor(min_p, **scalar), u)
        assert got.shape == (1,) and int(got) == want, (trial, setting)


def _generators(model, *paths, device="cpu"):
    return [ChunkedGenerator(TransformerBackend(model, Tokenizer(), STYLES, device, weights="fp32", step_path=p))
            for p in paths]


def case(seed: int = 0, beat_grid: BeatGrid | None = None, **controls) -> tuple[Controls, Window]:
    return Controls(**controls), Window(beat_grid=beat_grid, seed=seed)


def _session(gen: ChunkedGenerator, controls: Controls, window: Window = FOLLOW_ON) -> list[Note]:
    """Two windows, a human phrase folded in between (a rollback), guidance on and off across windows."""
    state = gen.init_state(PROMPT, controls)
    out = gen.generate_chunk(state, [], controls, window)[0]
    human = [Note(state.window_start_s - 0.3 + 0.05 * i, 0.1, 60 + 3 * i, 70) for i in range(4)]
    out += gen.generate_chunk(state, human, replace(controls, guidance=1.5), window)[0]
    out += gen.generate_chunk(state, [], controls, window)[0]
    return out


@pytest.mark.parametrize(("controls", "window"), [
    case(style={"Art Tatum": 1.0}, top_k=1, window_s=3.0),
    case(style={"Art Tatum": 1.0}, seed=3, top_p=0.9, window_s=3.0),
    case(style={"Dick Hyman": 0.5, "Art Tatum": 0.5}, seed=4, temperature=0.8, min_p=0.02, harmony_weight=1.0,
         window_s=3.0),
    case(style={"Art Tatum": 1.0}, seed=5, top_k=20, guidance=2.0, window_s=3.0),
    case(style={"Art Tatum": 1.0}, seed=6, top_p=0.95, window_s=3.0, meter_weight=1.5,
         beat_grid=BeatGrid(132, 0.07), density=0.5),
    case(style={"Art Tatum": 1.0}, seed=7, window_s=3.0, repeat_penalty=2.0, harmony_weight=0.5),
    case(style={"Art Tatum": 1.0}, seed=8, window_s=3.0, top_p=0.95, legato=0.8),
    case(style={"Art Tatum": 1.0}, seed=9, window_s=3.0, head_top_p=(0.9, 0.95, 1.0, 1.0)),
], ids=["greedy", "top_p", "min_p_harmony", "top_k_guidance", "meter_density", "repeat_penalty", "legato",
        "head_top_p"])
def test_static_path_plays_the_notes_of_the_dynamic_path(controls, window):
    dynamic, static = _generators(tiny_model(), "dynamic", "static")
    want, got = _session(dynamic, controls, window), _session(static, controls, window)
    assert len(want) > 20 and got == want


def test_trunk_at_ignores_stale_cache_entries():
    """After a rollback the cache holds old steps past the length; the masked attention must not see them."""
    model = tiny_model()
    backend = TransformerBackend(model, Tokenizer(), STYLES, weights="fp32", step_path="static")
    controls = Controls(style={"Art Tatum": 1.0})
    steps = random_steps(30)[0].numpy()
    used, fresh = backend.new_cache(1), backend.new_cache(1)
    backend.feed(used, steps[:20], controls)
    backend.truncate(used, 8)  # positions 8.. now stale
    backend.feed(fresh, steps[:7], controls)
    for cache in (used, fresh):
        for row in steps[20:30]:
            backend.feed(cache, row[None], controls)  # single steps: the static path
    assert used.length == fresh.length == 18
    torch.testing.assert_close(used.hidden[:, :18], fresh.hidden[:, :18], rtol=1e-5, atol=1e-6)


def test_static_steps_have_no_host_reads_or_shape_changes():
    """What a CUDA graph needs, checked on the CPU: each step traces as one graph (no `.item()`, no branch on a
    value) and the trace of the first position serves every later one (no shape depends on the position)."""
    dynamo = pytest.importorskip("torch._dynamo")
    backend = _generators(tiny_model(), "static")[0].backend
    compiled: dict[str, object] = {}

    def run(self, graphs_, key, make, cache):
        if key[0] not in compiled:
            compiled[key[0]] = torch.compile(make(), fullgraph=True, backend="eager", dynamic=False)
        return compiled[key[0]]()

    dynamo.reset()
    with pytest.MonkeyPatch.context() as mp, dynamo.config.patch(error_on_recompile=True):
        mp.setattr(graphs.StaticSteps, "_run", run)
        gen = ChunkedGenerator(backend)
        controls = Controls(style={"Art Tatum": 1.0}, top_p=0.9, window_s=4.0)
        notes = gen.generate_chunk(gen.init_state(PROMPT, controls), [], controls, Window(max_notes=12, seed=1))[0]
    dynamo.reset()
    assert len(notes) >= 5 and set(compiled) == {"feed", "sample"}


@pytest.mark.skipif(not any(shutil.which(c) for c in ("g++", "c++", "clang++")),
                    reason="torch.compile on a CPU needs a C++ compiler")
def test_compiled_static_steps_play_the_same_notes():
    """`torch.compile` of the two steps (inductor's CPU code here; before capture on a GPU) changes no note."""
    static, compiled = _generators(tiny_model(), "static", "compiled")
    controls, window = case(style={"Art Tatum": 1.0}, seed=3, top_p=0.9, window_s=3.0)
    want, got = _session(static, controls, window), _session(compiled, controls, window)
    assert compiled.backend.static.compile, "compilation was switched off (see the log)"
    assert len(want) > 20 and got == want


class _FakeCapture:
    """Stands in for a CUDA graph on a CPU (fallback tests only): runs the step, optionally corrupting its output."""

    corrupt = False

    def __init__(self, fn, device):
        self.fn = fn

    def __call__(self):
        out = self.fn()
        return out + 1 if self.corrupt and out is not None else out


@pytest.mark.parametrize("failure", ["capture raises", "replay disagrees", "compile raises"])
def test_a_failing_capture_or_compile_falls_back_to_the_eager_step(failure, monkeypatch, caplog):
    want = _session(_generators(tiny_model(), "static")[0], *case(style={"Art Tatum": 1.0}, seed=2, window_s=3.0))
    gen = _generators(tiny_model(), "static")[0]
    steps = gen.backend.static
    steps.graphs = True  # as on a GPU, with the capture replaced below
    if failure == "capture raises":
        monkeypatch.setattr(graphs, "_Captured", lambda fn, device: (_ for _ in ()).throw(RuntimeError("no driver")))
    else:
        bad = type("Bad", (_FakeCapture,), {"corrupt": failure == "replay disagrees"})
        monkeypatch.setattr(graphs, "_Captured", bad)
    if failure == "compile raises":
        steps.compile = True
        monkeypatch.setattr(torch, "compile", lambda fn, **kw: (_ for _ in ()).throw(RuntimeError("no compiler")))
    with caplog.at_level("WARNING"):
        got = _session(gen, *case(style={"Art Tatum": 1.0}, seed=2, window_s=3.0))
    assert got == want
    assert "failed" in caplog.text
    if failure == "compile raises":
        assert not steps.compile and steps.graphs  # compilation off, the (fake) graphs kept
    else:
        assert not steps.graphs


def test_step_path_is_checked():
    model = tiny_model()
    with pytest.raises(ValueError, match="step_path must be one of"):
        TransformerBackend(model, Tokenizer(), STYLES, step_path="turbo")
    with pytest.raises(ValueError, match="needs a CUDA device"):
        TransformerBackend(model, Tokenizer(), STYLES, "cpu", step_path="graphs")
    with pytest.raises(ValueError, match="needs fast=True"):
        TransformerBackend(model, Tokenizer(), STYLES, fast=False, step_path="static")
    want = "native" if native.library() is not None else "dynamic"  # auto, on a CPU: the C step where it builds
    assert TransformerBackend(model, Tokenizer(), STYLES).step_path == want


def test_auto_weights_pick_fp16_only_for_big_models():
    small = TransformerBackend(tiny_model(), Tokenizer(), STYLES, "cpu")
    assert small.weights == "fp32"
    cfg = ModelConfig(n_styles=len(STYLES), d_model=256, n_layers=6, n_heads=4, context_steps=64)
    big = NoteTransformer(cfg).eval()
    assert big.num_parameters() >= FP16_MIN_PARAMETERS
    want = "fp16" if fp16_weights_available() else "fp32"
    assert TransformerBackend(big, Tokenizer(), STYLES, "cpu", step_path="dynamic").weights == want
    assert TransformerBackend(big, Tokenizer(), STYLES, "cpu", step_path="static").weights == want
    if native.library() is not None:  # the C step: fp16 where the CPU converts it in hardware (the default model too)
        want = "fp16" if native.converts_half() else "fp32"
        assert TransformerBackend(big, Tokenizer(), STYLES, "cpu").weights == want


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_graphs_play_the_notes_of_the_eager_static_path():
    model = tiny_model()
    eager, graphed = _generators(model, "static", "graphs", device="cuda")
    controls, window = case(style={"Art Tatum": 1.0}, seed=3, top_p=0.9, window_s=3.0)
    want, got = _session(eager, controls, window), _session(graphed, controls, window)
    assert graphed.backend.static.graphs, "the graphs were switched off (see the log)"
    assert len(want) > 20 and got == want


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_graph_is_reused_for_a_cache_at_the_same_addresses():
    model = tiny_model()
    backend = _generators(model, "graphs", device="cuda")[0].backend
    controls = Controls(style={"Art Tatum": 1.0})
    steps = random_steps(12)[0].numpy()
    for _ in range(2):
        cache = backend.new_cache(1)
        backend.feed(cache, steps[:4], controls)
        for row in steps[4:]:
            backend.feed(cache, row[None], controls)
        ref = KVCache(model.cfg, 1, "cuda")
        backend.infer.prefill(ref, torch.as_tensor(steps, device="cuda")[None], backend.style_vectors(controls, 1))
        torch.testing.assert_close(cache.hidden[:, :13], ref.hidden[:, :13], rtol=1e-4, atol=1e-5)
        del cache
    assert backend.static.graphs and backend.static.graph_count <= 2  # feed graphs only: this test samples nothing
