"""Compare this checkout's target-s3-parquet with another revision's, run alternately.

This machine's speed drifts by 20 % or more within minutes, so two builds are only
comparable measured back to back: each pair runs both builds on the same input (the 2M-record
files of bench_target.py), alternating which goes first. The other revision's
`target-s3-parquet/src` is taken with `git archive` and put first on PYTHONPATH; both builds
use this virtualenv's dependencies and schemahub-core.

    .venv/bin/python bench/bench_target_ab.py f49277e               # 3 pairs per stream
    .venv/bin/python bench/bench_target_ab.py f49277e --pairs 4 --streams binance_trades
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_target import ROOT, STREAMS, WORK, write_input

SOURCE = "target-s3-parquet/src"


def run(src: Path, stream: str, source: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds user + system) of the target (code from `src`) on `source`.

    CPU time is less sensitive than wall time to other jobs on a shared machine.
    """
    out = WORK / f"out-ab-{stream}"
    shutil.rmtree(out, ignore_errors=True)
    config = WORK / "target-config-ab.json"
    config.write_text(json.dumps({"output_uri": str(out)}))
    env = {**os.environ, "PYTHONPATH": str(src)}
    with open(source, "rb") as stdin:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "target_s3_parquet", "--config", str(config)],
            stdin=stdin,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"the target from {src} failed on {source}")
    return wall, usage.ru_utime + usage.ru_stime


def main() -> None:
    """Run the pairs and print each run and the medians (wall and CPU time)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base", help="git revision to compare with (e.g. the branch point)")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--records", type=int, default=2_000_000)
    parser.add_argument("--streams", nargs="+", default=list(STREAMS))
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-ab-") as tmp:
        archive = subprocess.run(
            ["git", "archive", args.base, SOURCE], cwd=ROOT, capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        builds = {"base": Path(tmp) / SOURCE, "this": ROOT / SOURCE}
        for stream in args.streams:
            source = WORK / f"{stream}-{args.records}.jsonl"
            write_input(source, stream, args.records)
            wall: dict[str, list[float]] = {"base": [], "this": []}
            cpu: dict[str, list[float]] = {"base": [], "this": []}
            for pair in range(args.pairs):
                order = ["base", "this"] if pair % 2 == 0 else ["this", "base"]
                for name in order:
                    seconds, cpu_seconds = run(builds[name], stream, source)
                    wall[name].append(seconds)
                    cpu[name].append(cpu_seconds)
                print(
                    f"{stream} pair {pair + 1}: base {wall['base'][-1]:.2f} s "
                    f"(CPU {cpu['base'][-1]:.2f} s), this {wall['this'][-1]:.2f} s "
                    f"(CPU {cpu['this'][-1]:.2f} s)",
                    flush=True,
                )
            for label, figures in (("wall", wall), ("CPU", cpu)):
                base, this = (statistics.median(figures[n]) for n in ("base", "this"))
                print(
                    f"{stream}: median {label} base {base:.2f} s, this {this:.2f} s "
                    f"({(this / base - 1) * 100:+.1f} %)",
                    flush=True,
                )


if __name__ == "__main__":
    main()
