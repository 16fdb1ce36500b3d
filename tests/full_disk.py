"""A folder on a full disk: a 64 KiB tmpfs filled to the last byte (root only; the test skips elsewhere)."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def full_disk(folder: Path, free_bytes: int = 0) -> Iterator[Path]:
    """`folder` mounted as a tiny tmpfs, filled but for about `free_bytes`; unmounted after."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)], capture_output=True)
    if proc.returncode:
        pytest.skip(f"cannot mount a tmpfs: {proc.stderr.decode(errors='replace').strip()}")
    try:
        filler = folder / "filler"
        with contextlib.suppress(OSError), open(filler, "wb", buffering=0) as f:
            while True:
                f.write(b"\0" * 4096)
        if free_bytes:
            os.truncate(filler, max(filler.stat().st_size - free_bytes, 0))
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)


def leftovers(folder: Path) -> list[str]:
    """What is in `folder` besides the filler."""
    return sorted(p.name for p in folder.iterdir() if p.name != "filler")
