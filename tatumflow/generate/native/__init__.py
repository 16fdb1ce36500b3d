"""The native decode step (decode_step.c): built once per machine with the system C compiler, loaded with ctypes.

`library()` returns the loaded library, or None (with the reason in `unavailable_reason()`) where there is no C
compiler or the build fails: the torch paths then carry on (backend.py picks). The build is cached under
`$XDG_CACHE_HOME/tatumflow/native` (default `~/.cache/...`), keyed by the source, the compiler, its flags and this
CPU, so a machine never loads a library built for another CPU; `scripts/setup.sh` builds it once at install
(`python -m tatumflow.generate.native`, native/__main__.py). Nothing here runs at import.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("decode_step.c")
BUILD_TIMEOUT_S = 120


def _compiler() -> str | None:
    return os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")


def _flags() -> list[str]:
    # -march=native: this machine's SIMD (the build is keyed by the CPU, below); arm64 compilers spell it -mcpu.
    arch = "-mcpu=native" if platform.machine().lower() in ("arm64", "aarch64") else "-march=native"
    return ["-O3", arch, "-std=gnu11", "-ffp-contract=fast", "-fPIC", "-shared", "-fno-math-errno"]


def _cpu_signature() -> str:
    """What the CPU can run: the flags line of /proc/cpuinfo where there is one, else the platform's words."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    except OSError:
        pass
    return f"{platform.system()} {platform.machine()} {platform.processor()}"


def converts_half() -> bool:
    """Whether this CPU turns fp16 into fp32 in hardware (x86's F16C, every arm64 core): then fp16 weights halve
    the bytes a note streams for one conversion instruction per eight weights."""
    if platform.machine().lower() in ("arm64", "aarch64"):
        return True
    return "f16c" in _cpu_signature().split()


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tatumflow" / "native"


def library_path(compiler: str) -> Path:
    try:
        version = subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        version = ""
    key = hashlib.sha256()
    for part in (SOURCE.read_bytes(), compiler.encode(), version.encode(), " ".join(_flags()).encode(),
                 _cpu_signature().encode()):
        key.update(part + b"\0")
    suffix = ".dll" if sys.platform == "win32" else ".so"
    return cache_dir() / f"decode_step-{key.hexdigest()[:16]}{suffix}"


def build() -> Path:
    """Compile decode_step.c for this machine (or find it built); the path of the library. Raises on failure."""
    compiler = _compiler()
    if compiler is None:
        raise RuntimeError("no C compiler found (cc, gcc or clang; or set CC)")
    path = library_path(compiler)
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=path.suffix)
    os.close(fd)
    try:
        proc = subprocess.run([compiler, *_flags(), str(SOURCE), "-o", tmp, "-lm"], capture_output=True, text=True,
                              timeout=BUILD_TIMEOUT_S)
        if proc.returncode != 0:
            first = (proc.stderr.strip().splitlines() or ["no output"])[0]
            raise RuntimeError(f"{compiler} failed: {first[:200]}")
        os.replace(tmp, path)  # atomic: a concurrent build or load never sees half a library
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


_REASON: list[str] = []


@functools.lru_cache(maxsize=1)
def library() -> ctypes.CDLL | None:
    """The loaded native library, or None where it cannot be built or loaded (why: `unavailable_reason()`)."""
    try:
        lib = ctypes.CDLL(str(build()))
    except (OSError, RuntimeError, subprocess.SubprocessError) as err:
        _REASON.append(str(err))
        log.warning("native decode step unavailable, using the torch path: %s", err)
        return None
    lib.tf_work_floats.restype = ctypes.c_long
    lib.tf_work_floats.argtypes = [ctypes.c_int] * 4
    lib.tf_step.restype = None
    lib.tf_head.restype = None
    ptr, i, d = ctypes.c_void_p, ctypes.c_int, ctypes.c_double
    lib.tf_sample.restype = ctypes.c_int
    lib.tf_sample.argtypes = [ptr, i, i, d, ptr, ptr, i, d, i, d, d, d, ptr, ptr]
    lib.tf_note.restype = None
    lib.tf_note.argtypes = [ptr, ptr, ptr, i, ptr]
    lib.tf_pitch_bias.restype = None
    lib.tf_pitch_bias.argtypes = [ptr, i, i, ptr]
    return lib


def unavailable_reason() -> str | None:
    return _REASON[-1] if _REASON else None

