"""A slow laptop, simulated: a 60 s duet with the live engine in a process held to a share of one CPU.

The child process joins a cgroup whose CPU quota makes this machine `slowdown` times slower (cgroup v1:
`cpu.cfs_quota_us` = period / slowdown; v2: `cpu.max`), then plays a duet: a pianist's phrases fed in real time
while the engine answers one window ahead, its report (windows degraded and skipped, late notes, generation and
reply times) written as JSON. Three lanes play the same duet one after the other: `ours`, as `jam` runs it (the
generator in its own process, generate/process.py); `same_process`, today's decode step inside the engine's process
(as `jam` ran before the split: a generating thread frozen by the quota while it holds the interpreter lock keeps
the sender waiting); `before`, the decode step it replaced (bench/legacy.py), inside too. Writing a cgroup needs
root; elsewhere the lane is skipped with the reason.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

V1_ROOT = Path("/sys/fs/cgroup/cpu")
V2_ROOT = Path("/sys/fs/cgroup")
PERIOD_US = 10_000  # a short period: the share is spread evenly (a slower CPU), not in 33 ms bursts
LANES = ("ours", "same_process", "before")  # as `jam` runs (the generator in its own process, generate/process.py);
# today's step inside the engine's process (as before the split); the step it replaced (fdcd752), inside too
QUOTA_KEYS = ("windows", "degraded_windows", "skipped_windows", "late_notes", "dropped_notes", "notes_sent",
              "generation_ms_p50", "generation_ms_p99", "engine_latency_ms_p99", "send_jitter_ms_p99", "stuck_notes")


@contextlib.contextmanager
def cpu_group(name: str, slowdown: float) -> Iterator[Path]:
    """A cgroup with `1 / slowdown` of one CPU; yields the file a process writes its pid into to join it."""
    if V1_ROOT.is_dir() and (V1_ROOT / "cpu.cfs_quota_us").exists():
        group = V1_ROOT / name
        group.mkdir()
        try:
            (group / "cpu.cfs_period_us").write_text(str(PERIOD_US))
            (group / "cpu.cfs_quota_us").write_text(str(int(PERIOD_US / slowdown)))
            if (group / "cpu.rt_runtime_us").exists():  # real-time threads in a child group need a runtime too:
                rt_period = int((group / "cpu.rt_period_us").read_text())  # the same share of its own period
                (group / "cpu.rt_runtime_us").write_text(str(int(rt_period / slowdown * 0.9)))
            yield group / "cgroup.procs"
        finally:
            _remove(group, V1_ROOT / "cgroup.procs")
        return
    if (V2_ROOT / "cgroup.controllers").exists() and "cpu" in (V2_ROOT / "cgroup.controllers").read_text():
        group = V2_ROOT / name
        group.mkdir()
        try:
            (group / "cpu.max").write_text(f"{int(PERIOD_US / slowdown)} {PERIOD_US}")
            yield group / "cgroup.procs"
        finally:
            _remove(group, V2_ROOT / "cgroup.procs")
        return
    raise OSError("no writable cgroup cpu controller (v1 cpu.cfs_quota_us or v2 cpu.max)")


def _remove(group: Path, parent_procs: Path) -> None:
    with contextlib.suppress(OSError):
        for pid in (group / "cgroup.procs").read_text().split():
            with contextlib.suppress(OSError):
                parent_procs.write_text(pid)
    for _ in range(50):
        try:
            group.rmdir()
            return
        except OSError:
            time.sleep(0.1)


def quota_lanes(checkpoint: str | None, seconds: float = 60.0, slowdown: float = 3.0,
                lanes: tuple[str, ...] = LANES) -> dict:
    """The duet in a child process per lane, each under the quota; the reports side by side."""
    if os.geteuid() != 0:
        return {"skipped": "the CPU quota needs root (writing a cgroup)"}
    out: dict = {"seconds": seconds, "slowdown": slowdown, "period_us": PERIOD_US}
    for lane in lanes:
        name = f"tatumflow-bench-{os.getpid()}-{lane}"
        try:
            with cpu_group(name, slowdown) as procs, tempfile.TemporaryDirectory() as tmp:
                result = Path(tmp) / "report.json"
                cmd = [sys.executable, "-m", "tatumflow.bench.quota", "--lane", lane, "--seconds", str(seconds),
                       "--cgroup-procs", str(procs), "--json", str(result)]
                if checkpoint:
                    cmd += ["--checkpoint", checkpoint]
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds * slowdown + 300)
                if proc.returncode != 0:
                    out[lane] = {"skipped": f"the duet failed: {(proc.stderr.strip().splitlines() or ['?'])[-1]}"}
                    continue
                out[lane] = json.loads(result.read_text())
        except OSError as err:
            return {"skipped": f"no CPU quota here: {err}"}
    return out


def duet(lane: str, checkpoint: str | None, seconds: float) -> dict:
    """The duet in this process: phrases fed in real time for `seconds`, the engine answering in duet mode."""
    import torch

    from ..model.checkpoint import default_checkpoint_dir
    from ..presets import load_preset
    from ..realtime.engine.clock import promote_input_thread
    from ..realtime.engine.config import EngineConfig
    from ..realtime.engine.engine import build_engine
    from ..realtime.ports.sinks import MemorySink
    from ..realtime.session.demo import play_as_human
    from .engine import _phrase

    torch.set_num_threads(1)
    generator: Any
    if lane == "ours":
        from ..generate.process import GeneratorProcess

        generator = GeneratorProcess(checkpoint, "cpu", 1)  # its process joins this one's cgroup: the same quota
    elif lane == "before":
        from .legacy import TodaysContract, legacy_generator

        generator = TodaysContract(legacy_generator(checkpoint or default_checkpoint_dir()))
    else:
        from ..generate.load import load_generator

        generator = load_generator(checkpoint, "cpu")
    preset = load_preset("tatum")
    config = EngineConfig.from_preset(preset.engine, mode="duet", seed=1)
    sink = MemorySink(keep=False)
    engine = build_engine(generator, [sink], config=config, controls=preset.controls)
    engine.start()
    promote_input_thread()  # the player's messages come as a keyboard's do in `jam`: from a reader thread it promotes
    try:
        end, i = engine.clock.now() + seconds, 0
        while engine.clock.now() < end and not engine.failed:
            play_as_human(engine, _phrase(i, n=16, gap_s=0.15), engine.clock)
            i += 1
    finally:
        report = engine.stop()
        sink.close()
        if lane == "ours":
            generator.close()
    return {"lane": lane, "step_path": getattr(generator.backend, "step_path", None),
            **{k: report.get(k) for k in QUOTA_KEYS}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="one lane of the CPU-quota duet (run by quota_lanes)")
    parser.add_argument("--lane", choices=LANES, required=True)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--checkpoint")
    parser.add_argument("--cgroup-procs", help="join this cgroup first")
    parser.add_argument("--json", required=True)
    args = parser.parse_args(argv)
    if args.cgroup_procs:
        Path(args.cgroup_procs).write_text(str(os.getpid()))
    Path(args.json).write_text(json.dumps(duet(args.lane, args.checkpoint, args.seconds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
