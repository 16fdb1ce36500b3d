"""Reply latency and send jitter of `tatumflow jam` measured from outside, over a JACK dummy server.

Starts `jackd -d dummy`, runs `tatumflow jam --in virtual --out virtual --mode call-response --report ...` as a
subprocess, plays phrases from a separate JACK client into `TatumFlow In`, and times the first reply note on
`TatumFlow Out` against (last release + silence threshold). Ends the jam with SIGINT and checks nothing is left
sounding. Usage:

    .venv/bin/python benchmarks/realtime_jack/run.py [--phrases 12] [--out results.json] [-- JAM OPTIONS...]
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.realtime.conftest import assert_balanced, phrase  # noqa: E402
from tests.realtime.jack import JackClient, jack_dummy_server  # noqa: E402

SILENCE_S = 0.5


def measure(client: JackClient, phrases: int, seed: int) -> list[float | None]:
    rng = random.Random(seed)
    latencies = []
    for _ in range(phrases):
        notes = phrase(start_s=0.0, n=rng.randint(4, 12), gap_s=rng.choice([0.12, 0.18, 0.25]),
                       pitch=rng.randint(55, 72))
        released = client.play(notes)
        time.sleep(SILENCE_S + 0.4)
        ons = client.note_ons(after=released)
        latencies.append((ons[0] - released - SILENCE_S) * 1e3 if ons else None)
        time.sleep(rng.choice([0.3, 2.5]))  # sometimes barge into the reply, sometimes let it finish
    return latencies


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--phrases", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("jack_latency.json"))
    ap.add_argument("jam_args", nargs="*")
    args = ap.parse_args()
    report_path = args.out.with_suffix(".report.json")
    with jack_dummy_server(Path("/tmp/tatumflow-bench-jackd.log")):
        jam = subprocess.Popen([sys.executable, "-m", "tatumflow.cli", "jam", "--in", "virtual", "--out", "virtual",
                                "--mode", "call-response", "--silence", str(SILENCE_S), "--report", str(report_path),
                                *args.jam_args], start_new_session=True)
        client = JackClient()
        time.sleep(1.0)
        latencies = measure(client, args.phrases, args.seed)
        jam.send_signal(signal.SIGINT)
        jam.wait(timeout=30)
        time.sleep(0.2)
        assert_balanced(client.messages())
        client.close()
    got = [x for x in latencies if x is not None]
    result = {
        "jam_args": args.jam_args,
        "phrases": args.phrases,
        "replies_seen": len(got),
        "external_reply_ms_p50": round(float(np.percentile(got, 50)), 2) if got else None,
        "external_reply_ms_p99": round(float(np.percentile(got, 99)), 2) if got else None,
        "external_reply_ms_max": round(max(got), 2) if got else None,
        "stuck_notes_after_sigint": 0,
        "engine_report": json.loads(report_path.read_text()),
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
