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


V2_REPORT = ROOT / "benchmarks" / "eval" / "report" / "eval_v2_report.json"


def test_intervals_resample_recordings_around_each_verdict_that_is_a_mean_over_prompts(capsys):
    module = ship_check()
    result = json.loads(V2_REPORT.read_text())
    checks = module.with_intervals(module.criteria(result, bench={"window_ms_p99": 40.0}), result, resamples=400)
    by_name = {c.name.split(":")[0]: c for c in checks}
    assert by_name["discriminator AUC"].interval is None and by_name["grammar errors"].interval is None
    assert by_name["22-note window p99 (ms)"].interval is None
    for key in module.TEXTURE:
        what, low, high = by_name[key].interval
        signed = result["model"][key] / result["real"][key] - 1
        assert what == "deviation" and low < signed < high  # the split's own value lies inside its interval
        assert high - low > 0.01  # six recordings do not pin a measure down to 1 %
    what, low, high = by_name["pitch-class KL"].interval
    margin = min(result["markov"]["pitch_class_kl"], result["no_style"]["pitch_class_kl"]) - result["model"][
        "pitch_class_kl"]
    assert what == "margin" and low < margin < high
    assert module.with_intervals(checks, {**result, "files": []}) == checks  # nothing to resample: unchanged
    again = module.with_intervals(module.criteria(result), result, resamples=400)
    assert [c.interval for c in again] == [c.interval for c in checks[: len(again)]]  # seeded: reproducible
    assert module.main([str(V2_REPORT), "--interval"]) == 1
    out = capsys.readouterr().out
    assert "FAIL duration_mean_s" in out and "[deviation -0.2" in out
