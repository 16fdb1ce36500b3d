"""The committed results tell the truth about the model they measured: every result in benchmarks/ that ran the
embedded default checkpoint carries its stamp (the weights' hash and the commit), and one whose weights are no
longer shipped is marked retired (what to re-run is said there)."""

import json
from pathlib import Path

import pytest

from tatumflow.stamp import STAMP, default_checkpoint_sha256, names_default

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def default_results() -> list[tuple[Path, dict]]:
    found = []
    for path in sorted(BENCHMARKS.rglob("*.json")):
        try:
            result = json.loads(path.read_text())
        except (UnicodeDecodeError, json.JSONDecodeError):
            continue
        if names_default(result):
            found.append((path, result))
    return found


def test_results_of_the_default_checkpoint_are_found():
    names = {p.relative_to(BENCHMARKS).as_posix() for p, _ in default_results()}
    assert {"full/results_cpu.json", "engine/results_cpu.json", "eval/eval_tatum_val.json"} <= names


def stale(results: list[tuple[Path, dict]], shipped: str) -> list[str]:
    """The results that ran weights other than `shipped` and are not marked retired."""
    return [p.name for p, r in results if r[STAMP]["checkpoint_sha256"] != shipped and not r.get("retired")]


def test_shipping_other_weights_makes_the_current_results_stale():
    results = default_results()
    assert stale(results, default_checkpoint_sha256()) == []
    assert "results_cpu.json" in stale(results, "0" * 64)  # full/: measured on the weights shipped now


@pytest.mark.parametrize("path, result", default_results(), ids=lambda v: v.relative_to(BENCHMARKS).as_posix()
                         if isinstance(v, Path) else "")
def test_a_result_of_the_default_names_weights_still_shipped_or_is_retired(path, result):
    stamp = result.get(STAMP)
    assert isinstance(stamp, dict) and {"checkpoint_sha256", "commit"} <= set(stamp), \
        f"{path}: ran the embedded default but has no {STAMP} (tatumflow.stamp.stamp)"
    if stamp["checkpoint_sha256"] != default_checkpoint_sha256():
        assert isinstance(result.get("retired"), str) and result["retired"], \
            f"{path}: measured on weights no longer shipped ({stamp['checkpoint_sha256'][:12]}); re-run it or mark " \
            "it retired with the reason"
