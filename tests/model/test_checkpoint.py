"""Checkpoints: safetensors + JSON round trip, clear errors, nothing unpickled."""

import json

import pytest
import torch

from tatumflow.generate.controls import Controls
from tatumflow.generate.load import load_generator
from tatumflow.generate.window import Window
from tatumflow.model.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from tatumflow.model.tokenizer import Tokenizer
from tatumflow.notes import Note

from ..tiny import STYLES, tiny_model


@pytest.fixture
def ckpt_dir(tmp_path):
    ckpt = Checkpoint(tiny_model(), Tokenizer(), STYLES, {"note": "test"})
    return save_checkpoint(tmp_path / "ckpt", ckpt, card="# card\n")


def test_round_trip_gives_the_same_model(ckpt_dir):
    original = tiny_model()
    loaded = load_checkpoint(ckpt_dir)
    assert loaded.styles == STYLES and loaded.meta == {"note": "test"}
    for name, tensor in original.state_dict().items():
        assert torch.equal(tensor, loaded.model.state_dict()[name]), name
    assert sorted(p.name for p in ckpt_dir.iterdir()) == ["MODEL_CARD.md", "config.json", "model.safetensors"]


def test_half_precision_weights_load_as_float32(tmp_path):
    path = save_checkpoint(tmp_path / "half", Checkpoint(tiny_model(), Tokenizer(), STYLES), dtype=torch.float16)
    loaded = load_checkpoint(path)
    assert all(p.dtype == torch.float32 for p in loaded.model.parameters())


def test_generator_from_checkpoint_is_deterministic(ckpt_dir):
    prompt = [Note(0.2 * i, 0.3, 60 + i, 80) for i in range(8)]
    outs = []
    for _ in range(2):
        gen = load_generator(ckpt_dir, "cpu")
        state = gen.init_state(prompt, Controls())
        outs.append(gen.generate_chunk(state, [], Controls(), Window(seed=3))[0])
    assert outs[0] == outs[1]


def edit_config(path, fn):
    cfg = json.loads((path / "config.json").read_text())
    fn(cfg)
    (path / "config.json").write_text(json.dumps(cfg))


def test_tokenizer_mismatch_is_rejected(ckpt_dir):
    edit_config(ckpt_dir, lambda c: c["tokenizer"].update(n_velocity=16))
    with pytest.raises(ValueError, match="do not match its tokenizer"):
        load_checkpoint(ckpt_dir)


def test_weights_that_do_not_fit_the_config_are_rejected(ckpt_dir):
    edit_config(ckpt_dir, lambda c: c["model"].update(d_model=64, n_heads=2))
    with pytest.raises(ValueError, match="shape"):
        load_checkpoint(ckpt_dir)


def test_styles_must_match(ckpt_dir):
    edit_config(ckpt_dir, lambda c: c.update(styles=["none"]))
    with pytest.raises(ValueError, match="style names"):
        load_checkpoint(ckpt_dir)


def test_corrupt_files_give_clear_errors(ckpt_dir, tmp_path):
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "nowhere")
    torch.save(tiny_model().state_dict(), ckpt_dir / "model.safetensors")  # a pickle under the right name

    with pytest.raises(ValueError, match="cannot read"):
        load_checkpoint(ckpt_dir)
    (ckpt_dir / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_checkpoint(ckpt_dir)



def test_export_to_16_bit_halves_the_file_and_keeps_the_model(ckpt_dir, tmp_path):
    from tatumflow.model.checkpoint import export_checkpoint

    out = export_checkpoint(ckpt_dir, tmp_path / "half", card="# c\n", meta={"shipped": True})
    assert (out / "model.safetensors").stat().st_size < 0.6 * (ckpt_dir / "model.safetensors").stat().st_size
    a, b = load_checkpoint(ckpt_dir), load_checkpoint(out)
    assert b.meta["shipped"] is True
    for name, tensor in a.model.state_dict().items():
        torch.testing.assert_close(b.model.state_dict()[name], tensor, rtol=1e-3, atol=1e-4)


def test_embedded_default_model_loads():
    from tatumflow.model.checkpoint import default_checkpoint_dir

    ckpt = load_checkpoint(default_checkpoint_dir())
    assert "Art Tatum" in ckpt.styles
    assert (default_checkpoint_dir() / "MODEL_CARD.md").read_text().strip()
    assert (default_checkpoint_dir() / "model.safetensors").stat().st_size < 40e6


def test_non_finite_weights_are_rejected(tmp_path):
    model = tiny_model()
    with torch.no_grad():
        model.blocks[0].qkv.weight[0, 0] = float("nan")
    path = save_checkpoint(tmp_path / "nan", Checkpoint(model, Tokenizer(), STYLES))
    with pytest.raises(ValueError, match="non-finite weights.*blocks.0.qkv.weight"):
        load_checkpoint(path)
