"""What a training run keeps besides its weights: the distributed environment, the optimizer state on disk.

The optimizer state is `optimizer.safetensors` (its tensors) and `train_state.json` (step, best validation loss,
notes seen, the state's scalars), never a pickle.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from safetensors.torch import load_file, save_file

from ..files import atomic_path, write_atomic


class DistEnv:
    """Rank/world from torchrun's environment; a single process otherwise."""

    def __init__(self, device: str) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.device = device
        if self.world > 1:
            backend = "nccl" if device.startswith("cuda") else "gloo"
            if device.startswith("cuda"):
                self.device = f"cuda:{self.local_rank}"
                torch.cuda.set_device(self.device)
            dist.init_process_group(backend)

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def agree(self, flag: bool) -> bool:
        """True on every rank when it is True on any (so that all ranks stop at the same step)."""
        if self.world == 1:
            return flag
        t = torch.tensor([float(flag)], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item())

    def close(self) -> None:
        if self.world > 1:
            dist.destroy_process_group()


def save_train_state(folder: Path, opt: torch.optim.Optimizer, step: int, best: float, notes_seen: int) -> None:
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, Any] = {}
    for pid, st in opt.state_dict()["state"].items():
        for name, value in st.items():
            if torch.is_tensor(value):
                tensors[f"{pid}.{name}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{pid}.{name}"] = value
    with atomic_path(folder / "optimizer.safetensors") as tmp:  # a full disk: WriteError, nothing half-written
        save_file(tensors, str(tmp))
    meta = {"step": step, "best_val": best if best != float("inf") else None, "notes_seen": notes_seen,
            "scalars": scalars}
    write_atomic(folder / "train_state.json", json.dumps(meta, allow_nan=False))


def load_train_state(folder: Path, opt: torch.optim.Optimizer) -> dict | None:
    """Restore `opt` from `folder`; {step, best_val, notes_seen}, or None when the state does not fit `opt`."""
    meta = json.loads((folder / "train_state.json").read_text())
    tensors = load_file(str(folder / "optimizer.safetensors"))
    sd = opt.state_dict()
    params = [p for group in opt.param_groups for p in group["params"]]
    state: dict[int, dict] = {}
    for key, value in list(tensors.items()) + list(meta["scalars"].items()):
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = value
    if len(state) != len(params):
        return None
    for pid, st in state.items():
        if pid >= len(params) or ("exp_avg" in st and st["exp_avg"].shape != params[pid].shape):
            return None
    sd["state"] = state
    opt.load_state_dict(sd)
    best = meta.get("best_val")
    return {"step": int(meta["step"]), "best_val": float("inf") if best is None else float(best),
            "notes_seen": int(meta.get("notes_seen", 0))}
