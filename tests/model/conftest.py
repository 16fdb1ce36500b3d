import pytest
import torch

from tatumflow.model.backend import TransformerBackend
from tatumflow.model.generator import ChunkedGenerator
from tatumflow.model.tokenizer import Tokenizer
from tatumflow.model.transformer import ModelConfig, NoteTransformer

STYLES = ["none", "Art Tatum", "Dick Hyman"]


def tiny_model(max_steps: int = 64, seed: int = 0) -> NoteTransformer:
    torch.manual_seed(seed)
    cfg = ModelConfig(n_styles=len(STYLES), d_model=32, n_layers=2, n_heads=2, max_steps=max_steps)
    model = NoteTransformer(cfg)
    # Random init gives near-uniform deltas (mean ~2 s); a bias toward short gaps makes windows hold notes.
    with torch.no_grad():
        model.heads[0].out.bias[:40] += 4.0
    return model.eval()


@pytest.fixture
def model() -> NoteTransformer:
    return tiny_model()


@pytest.fixture
def generator(model) -> ChunkedGenerator:
    return ChunkedGenerator(TransformerBackend(model, Tokenizer(), STYLES))
