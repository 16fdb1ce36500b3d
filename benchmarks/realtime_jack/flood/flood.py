"""Where do notes go in a flood? A virtual `Flood Out` port feeds both `tatumflow jam --mock --in "Flood Out"` and a
bare rtmidi listener in this process; compare what was sent, what the listener got and what the engine counted.

    python benchmarks/realtime_jack/flood/flood.py RATE SECONDS OUT_DIR     (RATE in messages a second)
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import mido

from tatumflow.bench import jackd as jack
from tatumflow.realtime.ports.midi_io import close_input, open_input


def _jam(out_dir: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tatumflow.cli", "jam", "--mock", "--api", "jack", "--in",
                             "Flood Out", "--mode", "duet", "--no-tui", "--report", str(out_dir / "r.json"),
                             "--record", str(out_dir / "s.mid")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def flood(rate: float, seconds: float, out_dir: Path) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    sys.setswitchinterval(0.0005)  # the listener's callback must get the GIL within a JACK cycle
    with jack.jack_dummy_server(out_dir / "jackd.log", prefix="tf-flood"):
        b = mido.Backend(f"mido.backends.rtmidi/{jack.JACK_API}", load=True)
        sender = b.open_output("Flood Out", virtual=True, client_name="flood")
        got: list[mido.Message] = []
        listener = open_input(b, jack.wait_for_port("input", "Flood Out"), got.append)
        proc = _jam(out_dir)
        printed: list[bytes] = []
        threading.Thread(target=lambda: printed.extend(proc.stdout or []), daemon=True).start()  # as a terminal
        jack.wait_for_port("input", "TatumFlow Out", timeout_s=30)
        time.sleep(1.0)
        n, t0 = int(rate * seconds / 2), time.monotonic()
        for i in range(n):
            while time.monotonic() < t0 + 2 * i / rate:
                time.sleep(0.00002)
            pitch = 21 + (i * 7) % 88
            sender.send(mido.Message("note_on", note=pitch, velocity=1 + i % 127))
            sender.send(mido.Message("note_off", note=pitch))
        took = time.monotonic() - t0
        time.sleep(1.5)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        close_input(listener)
    report = json.loads((out_dir / "r.json").read_text())
    return {"rate": rate, "sent_note_ons": n, "send_s": round(took, 3),
            "listener_note_ons": sum(m.type == "note_on" and m.velocity > 0 for m in got),
            "engine_human_notes": report["human_notes"], "input_messages": report["input_messages"],
            "input_lost": report["input_lost"]}


if __name__ == "__main__":
    print(json.dumps(flood(float(sys.argv[1]), float(sys.argv[2]), Path(sys.argv[3]))))
