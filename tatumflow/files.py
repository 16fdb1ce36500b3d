"""Files read and written with bounds: a user's file is read only up to a stated size (else refused), an output
appears whole or not at all (a temp file beside it, renamed when complete), and an error message quotes at most a
few dozen characters of what it was given."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import IO

QUOTE_CHARS = 80  # the most of a user's value an error message repeats


class WriteError(ValueError):
    """An output could not be written (disk full, folder gone, ...); nothing partial is left."""


def clip(text: str, limit: int = QUOTE_CHARS) -> str:
    """`text` on one line, cut to `limit` characters with an ellipsis."""
    one_line = text.replace("\r", "\\r").replace("\n", "\\n")
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"


def quote(value: object, limit: int = QUOTE_CHARS) -> str:
    """`repr(value)` cut to `limit` characters (for values from user files in error messages)."""
    if isinstance(value, str | bytes) and len(value) > 4 * limit:
        value = value[: 4 * limit]  # repr of a 10 MB string is not made just to be cut
    return clip(repr(value), limit)


def read_bounded(path: str | os.PathLike, limit: int, what: str) -> bytes:
    """The bytes of `path`, refused (ValueError naming `what` and the limit) when it holds more than `limit`;
    a missing file is FileNotFoundError, any other failure to read (permissions, a device) a ValueError."""
    p = Path(path)
    try:
        with open(p, "rb") as f:
            data = f.read(limit + 1)
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} not found: {p}") from None
    except IsADirectoryError:
        raise ValueError(f"{what} {p} is a directory, not a file") from None
    except OSError as err:
        raise ValueError(f"{what} {p}: cannot read it ({err.strerror or err})") from None
    if len(data) > limit:
        raise ValueError(f"{what} {p} is larger than {limit:,} bytes: refused")
    return data


def read_text_bounded(path: str | os.PathLike, limit: int, what: str) -> str:
    """As `read_bounded`, decoded as UTF-8 (ValueError when it is not)."""
    data = read_bounded(path, limit, what)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{what} {path} is not UTF-8 text (byte {err.start})") from None


def temp_beside(path: Path, tmp: Path | None = None) -> Path:
    """A new empty temp file in `path`'s folder, of mode 0666 less the umask as `open` makes files (tempfile.mkstemp
    makes them 0600: outputs meant to be shared, like recordings, came out private). OSError as `os.open`."""
    tmp = tmp or path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    return tmp


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temp path beside `path` (created empty, mode 0666 less the umask, as `open` would) to write the output
    to; renamed onto `path` when the block ends, removed when it raises. An OSError (a full disk, a folder that
    went away) becomes a one-line `WriteError`."""
    final = Path(path)
    tmp = final.with_name(f".{final.name}.{secrets.token_hex(4)}.tmp")
    try:
        temp_beside(final, tmp)
        yield tmp
        os.replace(tmp, final)
    except OSError as err:
        raise WriteError(f"{final}: cannot write it ({err.strerror or err}); nothing was written") from err
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb", sync: bool = False) -> Iterator[IO]:
    """`open(path, mode)` through `atomic_path`: readers see the old file or the whole new one."""
    encoding = None if "b" in mode else "utf-8"
    with atomic_path(path) as tmp, open(tmp, mode, encoding=encoding) as f:
        yield f
        f.flush()
        if sync:
            os.fsync(f.fileno())


def write_atomic(path: str | os.PathLike, data: bytes | str, sync: bool = False) -> Path:
    """`data` to `path`, whole or not at all (see `atomic_path`)."""
    with atomic_open(path, "wb" if isinstance(data, bytes) else "w", sync) as f:
        f.write(data)
    return Path(path)
