"""scripts/setup.sh runs pip only when pyproject.toml changed since the last install (issue 27 item 13: every run
re-installed the package and printed setuptools' license deprecation three times). Run with stand-ins for the
venv's python (it logs pip calls) and dpkg-query (everything installed)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FAKE_PYTHON = """#!/bin/sh
echo "$*" >> "$(dirname "$0")/../calls.log"
exit 0
"""


@pytest.fixture
def checkout(tmp_path) -> Path:
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "setup.sh", repo / "scripts")
    shutil.copy(ROOT / "pyproject.toml", repo)
    (repo / ".notochord" / "notochord").mkdir(parents=True)
    python = repo / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "dpkg-query").write_text("#!/bin/sh\necho 'install ok installed'\n")
    (bin_dir / "dpkg-query").chmod(0o755)
    return repo


def _setup(repo: Path) -> list[str]:
    """Run setup.sh; the pip calls it made."""
    log = repo / ".venv" / "calls.log"
    log.unlink(missing_ok=True)
    env = dict(os.environ, PATH=f"{repo.parent / 'bin'}:{os.environ['PATH']}")
    proc = subprocess.run(["bash", "scripts/setup.sh"], cwd=repo, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return [line for line in log.read_text().splitlines() if "pip" in line] if log.exists() else []


def test_pip_runs_once_then_only_when_pyproject_changes(checkout):
    assert any("install -q -e .[dev]" in call for call in _setup(checkout))
    assert _setup(checkout) == []  # nothing changed: no pip
    with open(checkout / "pyproject.toml", "a") as f:
        f.write("\n# a new dependency\n")
    assert any("-e .[dev]" in call for call in _setup(checkout))


def test_the_license_is_an_spdx_string():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"
