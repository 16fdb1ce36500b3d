"""Checks of user-given paths, made before any work starts: an output that cannot be written is found out at once,
not after a session has played or a model has generated."""

from __future__ import annotations

import os
from pathlib import Path


def check_output_file(path: str | os.PathLike, option: str) -> Path:
    """`path` can be written as a file: not a directory, its folder exists and is writable. Raises ValueError."""
    p = Path(path)
    if str(path) == "" or p.is_dir():
        raise ValueError(f"{option} {str(path)!r} is a directory; give a file name")
    if p.exists() and not os.access(p, os.W_OK):
        raise ValueError(f"{option} {p}: the file is not writable")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise ValueError(f"{option} {p}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"{option} {p}: folder {parent} is not writable")
    return p


def check_output_dir(path: str | os.PathLike, option: str) -> Path:
    """`path` can be (or already is) a writable folder: not an existing file, its nearest existing ancestor
    writable. Raises ValueError."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ValueError(f"{option} {p} is a file; give a folder")
    probe = p
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise ValueError(f"{option} {p}: {probe} is not a writable folder")
    return p


def check_input_file(path: str | os.PathLike, what: str) -> Path:
    """`path` is an existing regular file: a missing path, a folder and a device get different messages."""
    p = Path(path)
    if p.is_dir():
        raise ValueError(f"{what} {p} is a directory, not a file")
    if not p.exists():
        raise FileNotFoundError(f"{what} not found: {p}")
    if not p.is_file():
        raise ValueError(f"{what} {p} is not a regular file (a device or a pipe?)")
    if not os.access(p, os.R_OK):
        raise ValueError(f"{what} {p} is not readable")
    return p
