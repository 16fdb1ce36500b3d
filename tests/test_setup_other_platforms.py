"""scripts/setup.sh on a machine without apt-get (issue 27 item 14): it says what to install there and carries on
with the virtual environment. Run on a copy of the scripts with a PATH of stubs: `uname` says the platform, a
`dnf` or `brew` is there or not, `.venv/bin/python` records what it was asked."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TOOLS = ("bash", "dirname", "grep", "id", "cat", "env")


def _stub(path: Path, body: str) -> None:
    path.write_text(f"#!{shutil.which('bash')}\n{body}\n")
    path.chmod(0o755)


def _setup(tmp_path: Path, system: str, managers: tuple[str, ...]) -> subprocess.CompletedProcess:
    repo, bin_dir = tmp_path / "repo", tmp_path / "bin"
    shutil.copytree(REPO / "scripts", repo / "scripts")
    (repo / ".notochord" / "notochord").mkdir(parents=True)  # the optional peer: already there
    venv = repo / ".venv" / "bin"
    venv.mkdir(parents=True)
    _stub(venv / "python", f'echo "$@" >> {tmp_path / "python_calls"}')
    bin_dir.mkdir()
    for tool in TOOLS:
        os.symlink(shutil.which(tool), bin_dir / tool)
    _stub(bin_dir / "uname", f"echo {system}")
    for manager in managers:
        _stub(bin_dir / manager, "exit 1")  # present, never run by the script
    return subprocess.run([shutil.which("bash"), str(repo / "scripts" / "setup.sh")], capture_output=True,
                          text=True, env={"PATH": str(bin_dir), "HOME": str(tmp_path)}, timeout=60)


@pytest.mark.parametrize("system, managers, says", [
    ("Darwin", ("brew",), ["brew install fluid-synth portaudio", "General MIDI soundfont",
                           "JACK is optional on macOS: CoreMIDI"]),
    ("Linux", ("dnf",), ["sudo dnf install fluidsynth fluidsynth-libs portaudio fluid-soundfont-gm",
                         "JACK (optional"]),
    ("Linux", (), ["FluidSynth (libfluidsynth), PortAudio and a General MIDI soundfont"]),
])
def test_without_apt_it_says_what_to_install_and_carries_on(tmp_path, system, managers, says):
    result = _setup(tmp_path, system, managers)
    assert result.returncode == 0, result.stderr
    assert "No apt-get here" in result.stdout and "Debian/Ubuntu only" in result.stdout
    for line in says:
        assert line in result.stdout
    calls = (tmp_path / "python_calls").read_text()
    assert "pip install" in calls  # the virtual environment was set up all the same
    assert "TatumFlow is set up in .venv" in result.stdout
