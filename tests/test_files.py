"""The bounded reader and the atomic writer every output goes through (files.py)."""

from __future__ import annotations

import os
import stat

import pytest

from tatumflow.files import WriteError, atomic_open, clip, quote, read_bounded, write_atomic

from .full_disk import full_disk, leftovers


def test_a_file_over_the_limit_is_refused_without_reading_it_whole(tmp_path):
    path = tmp_path / "big.toml"
    path.write_bytes(b"x" * 1001)
    assert read_bounded(tmp_path / "big.toml", 1001, "preset") == b"x" * 1001
    with pytest.raises(ValueError, match=r"preset .*big.toml is larger than 1,000 bytes"):
        read_bounded(path, 1000, "preset")


@pytest.mark.parametrize("target", ["/proc/self/mem", "folder", "locked"])
def test_unreadable_files_are_one_line_errors(tmp_path, target):
    (tmp_path / "folder").mkdir()
    locked = tmp_path / "locked"
    locked.write_text("a = 1")
    locked.chmod(0)
    path = target if target.startswith("/") else tmp_path / target
    if target == "locked" and os.access(locked, os.R_OK):
        pytest.skip("root reads a file of mode 000")
    with pytest.raises(ValueError) as err:
        read_bounded(path, 1000, "CC map")
    assert str(err.value).startswith("CC map") and "\n" not in str(err.value)


def test_quotes_are_bounded():
    assert len(quote("x" * 10_000_000)) == 80 and quote("x" * 10_000_000).endswith("…")
    assert clip("a\nb") == "a\\nb"


def test_outputs_are_written_0644_under_the_usual_umask(tmp_path):
    old = os.umask(0o022)
    try:
        write_atomic(tmp_path / "a.mid", b"data")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.mid").stat().st_mode) == 0o644


def test_a_full_disk_leaves_nothing_and_says_so_in_one_line(tmp_path):
    with full_disk(tmp_path / "disk") as disk:
        with pytest.raises(WriteError, match="No space left on device") as err:
            write_atomic(disk / "out.json", "x" * 200_000)
        assert "\n" not in str(err.value) and leftovers(disk) == []
        (disk / "old.json").unlink(missing_ok=True)


def test_an_error_inside_the_block_keeps_the_old_file(tmp_path):
    path = tmp_path / "keep.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError), atomic_open(path, "w") as f:
        f.write("new")
        raise RuntimeError("stop")
    assert path.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]
