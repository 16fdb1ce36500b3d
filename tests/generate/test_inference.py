"""The prepared decode path computes what the module computes (fp32: float rounding; fp16 weights: close)."""

from dataclasses import replace

import pytest
import torch

from tatumflow.generate.backend import TransformerBackend
from tatumflow.generate.controls import Controls
from tatumflow.generate.generator import ChunkedGenerator
from tatumflow.generate.inference import InferenceModel, fp16_weights_available
from tatumflow.generate.window import Window
from tatumflow.model.kvcache import KVCache
from tatumflow.model.tokenizer import Tokenizer
from tatumflow.notes import Note

from ..tiny import STYLES, random_steps, tiny_model

PROMPT = [Note(0.1 * i, 0.2, 50 + (i * 7) % 30, 60 + i) for i in range(20)]


def _filled(model_or_infer, model, steps, style, lanes=1):
    cache = KVCache(model.cfg, lanes)
    model_or_infer.prefill(cache, steps[:, :9], style)  # a prefill, then single steps
    for i in range(9, steps.shape[1]):
        model_or_infer.prefill(cache, steps[:, i : i + 1], style)
    return cache


@pytest.mark.parametrize("lanes", [1, 2])
def test_fp32_path_equals_module_path(lanes):
    model = tiny_model()
    with torch.no_grad():  # non-trivial norm gains, so that folding them is exercised
        for name, p in model.named_parameters():
            if "norm" in name:
                p.add_(0.3 * torch.randn_like(p))
    steps = random_steps(24).expand(lanes, -1, -1)
    style = model.style_vector(torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])[:lanes])
    ref, fast = _filled(model, model, steps, style, lanes), _filled(InferenceModel(model), model, steps, style, lanes)
    n = ref.length
    assert fast.length == n == 25
    torch.testing.assert_close(fast.hidden[:, :n], ref.hidden[:, :n], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(fast.k[:, :, :, :n], ref.k[:, :, :, :n], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(fast.v[:, :, :, :n], ref.v[:, :, :, :n], rtol=1e-4, atol=1e-5)
    infer = InferenceModel(model)
    h = ref.hidden[:, n - 1]
    with torch.no_grad():
        for k in range(4):
            torch.testing.assert_close(infer.head_logits(k, h), model.heads[k](h), rtol=1e-4, atol=1e-5)


@pytest.mark.skipif(not fp16_weights_available(), reason="no fbgemm fp16 kernels in this torch build")
def test_fp16_weights_stay_close():
    model = tiny_model()
    steps = random_steps(24)
    style = model.style_vector(torch.tensor([[0.0, 1.0, 0.0]]))
    ref = _filled(model, model, steps, style)
    half = _filled(InferenceModel(model, "fp16"), model, steps, style)
    torch.testing.assert_close(half.hidden[:, :25], ref.hidden[:, :25], rtol=1e-2, atol=2e-3)


def test_unknown_weights_are_rejected():
    with pytest.raises(ValueError, match="weights must be one of"):
        InferenceModel(tiny_model(), "int3")


def test_fast_backend_generates_what_the_module_backend_generates():
    """Greedy: the same notes note for note; sampled: the same seed gives the same notes on both paths."""
    model = tiny_model()
    gens = [ChunkedGenerator(TransformerBackend(model, Tokenizer(), STYLES, fast=f, weights="fp32"))
            for f in (True, False)]
    for controls in (Controls(style={"Art Tatum": 1.0}, top_k=1),
                     Controls(style={"Art Tatum": 1.0}, top_p=0.9)):
        outs = [g.generate_chunk(g.init_state(PROMPT, controls), [], replace(controls, window_s=4.0), Window(seed=3))[0]
                for g in gens]
        assert outs[0] and outs[0] == outs[1]


def test_refresh_picks_up_new_weights():
    model = tiny_model()
    backend = TransformerBackend(model, Tokenizer(), STYLES)
    before = backend.infer.start.clone()
    with torch.no_grad():
        model.start.add_(1.0)
    backend.refresh()
    torch.testing.assert_close(backend.infer.start, before + 1.0)


def test_gpu_forms_of_norm_and_gelu_compute_the_cpu_forms():
    """On a GPU the prepared path uses `F.rms_norm` (gain 1/sqrt(D)) and `F.gelu`, one kernel each; on a CPU the
    vector_norm form and erf in place. Same numbers up to float rounding (checked here, on the CPU)."""
    model = tiny_model()
    steps, style = random_steps(24), model.style_vector(torch.tensor([[0.0, 1.0, 0.0]]))
    cpu_form = InferenceModel(model)
    gpu_form = InferenceModel(model)
    gpu_form._fused_norm, gpu_form._gelu = True, torch.nn.functional.gelu
    a, b = _filled(cpu_form, model, steps, style), _filled(gpu_form, model, steps, style)
    torch.testing.assert_close(a.hidden[:, :25], b.hidden[:, :25], rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        for k in range(4):
            torch.testing.assert_close(cpu_form.head_logits(k, a.hidden[0]), gpu_form.head_logits(k, a.hidden[0]),
                                       rtol=1e-5, atol=1e-6)
