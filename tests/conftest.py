"""Shared test setup: one torch thread (steadiest timing on small machines; tests run beside each other)."""

import torch

torch.set_num_threads(1)
