"""Shared test setup: one torch thread (steadiest timing on small machines; tests run beside each other)."""

import os

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


@pytest.fixture(scope="module")
def real_generator() -> ChunkedGenerator:
    """The real model (the embedded default, or $TATUMFLOW_TEST_CHECKPOINT) on the CPU, once per test module."""
    from tatumflow.generate.load import load_generator

    try:
        return load_generator(os.environ.get("TATUMFLOW_TEST_CHECKPOINT"), device="cpu")
    except FileNotFoundError as err:
        pytest.skip(f"no model to test with: {err} (set TATUMFLOW_TEST_CHECKPOINT)")
