"""The ship check of issue 15 over the committed report-split eval of the 2.3 M default of 2026-12-01 (shared seeds)."""

import copy
import importlib.util
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REPORT = ROOT / "benchmarks" / "eval" / "report" / "eval_tatum_report.json"


def ship_check():
    spec = importlib.util.spec_from_file_location("ship_check", ROOT / "benchmarks" / "eval" / "ship_check.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks itself up there
    spec.loader.exec_module(module)
    return module


def test_the_shipped_default_fails_on_auc_duration_and_pctm():
    checks = ship_check().criteria(json.loads(REPORT.read_text()), bench={"window_ms_p99": 93.4})
    failed = {c.name.split(":")[0] for c in checks if not c.holds}
    assert failed == {"discriminator AUC", "duration_mean_s", "PCTM"}
    assert len(checks) == 12


def test_a_candidate_that_meets_every_bound_ships_and_one_that_is_worse_than_the_default_does_not(tmp_path, capsys):
    module = ship_check()
    old = json.loads(REPORT.read_text())
    new = copy.deepcopy(old)
    new["model"].update(discriminator_auc=0.8, duration_mean_s=old["real"]["duration_mean_s"] * 0.9,
                        pctm_cosine=0.52)
    (tmp_path / "new.json").write_text(json.dumps(new))
    assert module.main([str(tmp_path / "new.json"), "--against", str(REPORT)]) == 0
    assert capsys.readouterr().out.strip().endswith("ship it")
    new["model"]["velocity_std"] = old["model"]["velocity_std"] * 0.98  # still within 15 %, but further than before
    (tmp_path / "new.json").write_text(json.dumps(new))
    assert module.main([str(tmp_path / "new.json"), "--against", str(REPORT)]) == 1
    assert "FAIL velocity_std: off the real, against the shipped default's" in capsys.readouterr().out
