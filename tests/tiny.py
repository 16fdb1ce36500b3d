"""Tiny models and step arrays shared by the tests."""

import torch

from tatumflow.model.transformer import ModelConfig, NoteTransformer

STYLES = ["none", "Art Tatum", "Dick Hyman"]


def tiny_model(context_steps: int = 64, seed: int = 0) -> NoteTransformer:
    torch.manual_seed(seed)
    cfg = ModelConfig(n_styles=len(STYLES), d_model=32, n_layers=2, n_heads=2, context_steps=context_steps)
    model = NoteTransformer(cfg)
    # Random init gives near-uniform deltas (mean ~2 s); a bias toward short gaps makes windows hold notes.
    with torch.no_grad():
        model.heads[0].out.bias[:40] += 4.0
    return model.eval()


def random_steps(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    sizes = (400, 88, 32, 64)
    return torch.stack([torch.randint(0, v, (1, n), generator=g) for v in sizes], dim=-1)  # [1, n, 4]
