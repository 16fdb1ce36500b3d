"""kill -9 mid-reply: how many notes stay sounding at a JACK listener, with and without the dead man's switch.

    python benchmarks/realtime_jack/kill9/kill9.py RUNS [on,off]

Each run: `tatumflow jam --mock --mode call-response` on a private JACK dummy server, a phrase played into it, the
session killed with SIGKILL 50 ms + 30 ms x run after the reply's first note, then what JACK delivered to a
listener outside Python (jack_midi_dump) one second later. `TATUMFLOW_DEADMAN` is set to each mode in turn.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from tatumflow.bench import jackd as jack
from tests.realtime.conftest import sounding_notes
from tests.realtime.jack import JackClient, RawListener


def one_run(i: int, mode: str) -> dict:
    work = Path(tempfile.mkdtemp())
    with open(work / "out.txt", "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "tatumflow.cli", "jam", "--mock", "--api", "jack", "--mode",
                                 "call-response", "--record", str(work / "s.mid")],
                                env=dict(os.environ, TATUMFLOW_DEADMAN=mode), stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    client = JackClient()
    raw = RawListener.start()
    assert raw is not None, "jack_midi_dump is needed"
    time.sleep(0.3)
    client.play_until_reply()
    time.sleep(0.05 + 0.03 * i)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(1.0)
    raw.close()
    client.close()
    said = (work / "out.txt").read_text(errors="replace").strip().splitlines()[-1:]
    shutil.rmtree(work)
    return {"sounding": len(sounding_notes(raw.messages())), "listener_skipped": raw.skipped,
            "said": said[0] if said else ""}


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 16
    modes = sys.argv[2].split(",") if len(sys.argv) > 2 else ["on", "off"]
    result = {}
    with jack.jack_dummy_server(Path(tempfile.gettempdir()) / "kill9-jackd.log", prefix="tf-kill9"):
        for mode in modes:
            rows = []
            for i in range(runs):
                rows.append(one_run(i, mode))
                time.sleep(0.3)
            result[mode] = {"runs": runs, "runs_with_sounding_notes": sum(r["sounding"] > 0 for r in rows),
                            "sounding_per_run": [r["sounding"] for r in rows], "rows": rows}
            print(mode, json.dumps({k: v for k, v in result[mode].items() if k != "rows"}), flush=True)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
