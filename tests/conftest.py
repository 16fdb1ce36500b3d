"""Shared test setup: one torch thread (steadiest timing on small machines; tests run beside each other)."""

import pytest
import torch

from tatumflow.generate.backend import TransformerBackend
from tatumflow.generate.generator import ChunkedGenerator
from tatumflow.model.tokenizer import Tokenizer
from tatumflow.model.transformer import NoteTransformer

from .tiny import STYLES, tiny_model

torch.set_num_threads(1)


@pytest.fixture
def model() -> NoteTransformer:
    return tiny_model()


@pytest.fixture
def generator(model) -> ChunkedGenerator:
    return ChunkedGenerator(TransformerBackend(model, Tokenizer(), STYLES))
