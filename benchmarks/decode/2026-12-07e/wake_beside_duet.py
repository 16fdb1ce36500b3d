"""Issue 25: is the quota duet's last late note the interpreter's, or the kernel's? A C real-time thread
(`cyclictest`, rt-tests: SCHED_FIFO 20, as the engine's sender, waking every 1 ms, no Python) runs in the same
CPU-quota group as the duet's `ours` lane, for the whole duet; how often the kernel wakes *it* >= 2 ms late is set
beside the duet's late note-ons (sent > 2 ms after their time). The VM's steal over the run is read from /proc/stat.

    sudo PYTHONPATH=. .venv/bin/python benchmarks/decode/2026-12-07e/wake_beside_duet.py OUT TAG \
        [--no-duet] [--ct-outside]

`--no-duet`: cyclictest alone in the group (the group's own effect); `--ct-outside`: cyclictest in the root group
while the duet plays in the quota group (the machine's effect, apart from the group's).

Writes OUT/ct_TAG.txt (cyclictest's histogram, 1 us bins), OUT/duet_TAG.json (the lane's report) and one JSON line
on stdout. Needs root (the cgroup, SCHED_FIFO) and `cyclictest` (apt: rt-tests).

    python benchmarks/decode/2026-12-07e/wake_beside_duet.py --expect OUT SUMMARY.jsonl...

sets each duet's late note-ons beside those the C thread's stalls predict: cyclictest skips the periods a stall
swallows, so each late wake-up is one stall, about as long as its latency; a note-on due in the first (latency - 2 ms)
of it is sent > 2 ms late, so the stalls' sum of (latency - 2 ms) over the run's length, times the notes sent, is the
late count a sender that the kernel alone delays would get.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tatumflow.bench.quota import cpu_group

SLOWDOWN, DUET_S, CT_S = 3.0, 60, 75  # cyclictest outlasts the duet (its start-up included)


def steal_ticks() -> int:
    fields = Path("/proc/stat").read_text().splitlines()[0].split()
    return int(fields[8])  # cpu user nice system idle iowait irq softirq steal


def _bins(hist: Path) -> list[tuple[int, int]]:
    """cyclictest's histogram: (latency in us, wake-ups) per bin."""
    return [(int(v), int(c)) for v, c in (line.split() for line in hist.read_text().splitlines() if line[:1].isdigit())]


def late_wakeups(hist: Path, at_least_us: int) -> int:
    return sum(count for value, count in _bins(hist) if value >= at_least_us)


def _header(hist: Path, name: str) -> int:
    """A number from cyclictest's summary lines ("# Max Latencies: 05328")."""
    return next((int(line.split(":")[1]) for line in hist.read_text().splitlines() if line.startswith(f"# {name}:")), 0)


def exposed_s(hist: Path, late_us: int = 2000) -> float:
    """Seconds of the run in which a message due would be sent more than `late_us` late (see the module); wake-ups
    past the histogram's 20 ms count as its longest (one of them is; no run here had two)."""
    inside = sum((value - late_us) * count for value, count in _bins(hist) if value >= late_us)
    return (inside + _header(hist, "Histogram Overflows") * (_header(hist, "Max Latencies") - late_us)) / 1e6


def expect(out: Path, summaries: list[str]) -> None:
    expected = got = sent = 0.0
    for summary in summaries:
        for line in Path(summary).read_text().splitlines():
            run = json.loads(line)
            if not run.get("duet", True):
                continue
            predicted = exposed_s(out / f"ct_{run['tag']}.txt") / CT_S * run["notes_sent"]
            expected, got, sent = expected + predicted, got + run["late_notes"], sent + run["notes_sent"]
            print(f"{run['tag']}: late note-ons {run['late_notes']}, the stalls predict {predicted:.2f}")
    print(f"all: late note-ons {got:.0f} of {sent:.0f}, the stalls predict {expected:.2f}")


def main() -> None:
    if sys.argv[1] == "--expect":
        expect(Path(sys.argv[2]), sys.argv[3:])
        return
    out, tag = Path(sys.argv[1]), sys.argv[2]
    duet = "--no-duet" not in sys.argv
    out.mkdir(parents=True, exist_ok=True)
    hist, report = out / f"ct_{tag}.txt", out / f"duet_{tag}.json"
    steal0, t0 = steal_ticks(), time.monotonic()
    with cpu_group(f"tatumflow-wake-{os.getpid()}", SLOWDOWN) as procs, open(hist, "w") as ct_out:
        ct = subprocess.Popen(["cyclictest", "-m", "-p", "20", "-i", "1000", "-D", str(CT_S), "-h", "20000", "-q",
                               "-t", "1"], stdout=ct_out, stderr=subprocess.STDOUT)
        if "--ct-outside" not in sys.argv:
            procs.write_text(str(ct.pid))
        if duet:
            subprocess.run([sys.executable, "-m", "tatumflow.bench.quota", "--lane", "ours", "--seconds",
                            str(DUET_S), "--cgroup-procs", str(procs), "--json", str(report)], check=True)
        ct.wait()
    line = {"tag": tag, "duet": duet, "ct_in_group": "--ct-outside" not in sys.argv,
            "seconds": round(time.monotonic() - t0, 1), "steal_ticks": steal_ticks() - steal0,
            "ct_wakeups": late_wakeups(hist, 0), "ct_late_1ms": late_wakeups(hist, 1000),
            "ct_late_2ms": late_wakeups(hist, 2000),
            "ct_max_us": _header(hist, "Max Latencies"), "ct_overflows": _header(hist, "Histogram Overflows")}
    if duet:
        d = json.loads(report.read_text())
        line |= {k: d[k] for k in ("late_notes", "notes_sent", "skipped_windows", "send_jitter_ms_p99")}
    print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
