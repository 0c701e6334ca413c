"""Benchmark target-s3-parquet against meltanolabs-target-csv and target-jsonl.

Generates Singer input files under bench/work/ (2M Coinbase-shaped and 2M Binance-shaped
RECORD messages with a STATE every 10k), runs the real `target-s3-parquet` CLI on each (local
output folder) with each table format (`hive`, `iceberg`; alternating, so both see the same
machine load), then the two baselines from PyPI (installed in their own virtualenv under
bench/work/, created on first use) on a 200k slice of the same input. Reports records/s
(wall time of the whole process, start-up included) and peak RSS (wait4 rusage). Our target
runs --repeat times per stream (the median is reported and every run listed: this shared
machine varies by 20 % or more between runs); --rss-check also streams 10M records through
the target to show that RSS stays flat. --commits measures the Iceberg commit latency and
metadata size after 1, 100 and 1,000 commits (manifest merging and metadata cleanup on).

    .venv/bin/python bench/bench_target.py                 # ~3-6 min on 2 shared cores
    .venv/bin/python bench/bench_target.py --rss-check     # + the 10M-record run
    .venv/bin/python bench/bench_target.py --write-readme  # update bench/README.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / "work" / "target"
BASELINE_VENVS = ROOT / "bench" / "work" / "venvs"
BASELINES = {"meltanolabs-target-csv": "target-csv", "target-jsonl": "target-jsonl"}
STREAMS = {"coinbase_trades": "BTC-USD", "binance_trades": "BTCUSDT"}
SECTION = "## target-s3-parquet"
# The target settings of each variant measured; "iceberg+raw" adds the raw Iceberg tables.
FORMATS = {
    "hive": {"table_format": "hive"},
    "iceberg": {"table_format": "iceberg"},
    "iceberg+raw": {"table_format": "iceberg", "iceberg_raw_tables": True},
}

sys.path.insert(0, str(ROOT / "target-s3-parquet" / "src"))
from target_s3_parquet.synthetic import (  # noqa: E402
    EPOCH,
    EXTRACTED_AT,
    STEP_US,
    binance_record,
    coinbase_record,
    record_line,
    schema_line,
    state_line,
)


@dataclass
class Measure:
    """One timed process."""

    name: str
    stream: str
    records: int
    seconds: float
    peak_rss_mb: float
    cpu_seconds: float = 0.0  # user + sys of the process and its threads
    runs: tuple[float, ...] = ()  # every run's seconds when repeated (this one is the median)
    table_format: str = ""

    @property
    def per_second(self) -> float:
        """Records per second of wall time."""
        return self.records / self.seconds


def write_input(path: Path, stream: str, count: int) -> None:
    """Write SCHEMA + `count` RECORDs (+ a STATE every 10k) unless the file already exists."""
    if path.exists():
        return
    make = coinbase_record if stream == "coinbase_trades" else binance_record
    symbol = STREAMS[stream]
    temp = path.with_suffix(".partial")
    with open(temp, "w") as handle:
        handle.write(schema_line(stream) + "\n")
        for trade_id in range(1, count + 1):
            handle.write(record_line(stream, make(symbol, trade_id)) + "\n")
            if trade_id % 10_000 == 0:
                handle.write(state_line(stream, symbol, trade_id) + "\n")
    temp.rename(path)


def head(source: Path, dest: Path, records: int) -> None:
    """The first `records` RECORD lines of `source` (with its SCHEMA and STATEs)."""
    if dest.exists():
        return
    seen = 0
    with open(source) as src, open(dest, "w") as out:
        for line in src:
            if line.startswith('{"type": "RECORD"'):
                seen += 1
                if seen > records:
                    break
            out.write(line)


def timed(
    name: str, stream: str, records: int, command: list[str], stdin: Path, cwd: Path
) -> Measure:
    """Run `command` with `stdin` from a file; wall time and the child's peak RSS."""
    with open(stdin, "rb") as source:
        started = time.perf_counter()
        proc = subprocess.Popen(
            command, stdin=source, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=cwd
        )
        assert proc.stderr is not None
        stderr = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"{name} failed on {stdin}:\n{stderr.decode()[-3000:]}")
    cpu = usage.ru_utime + usage.ru_stime
    return Measure(name, stream, records, seconds, usage.ru_maxrss / 1024, cpu)


def ensure_baseline(package: str, exe: str) -> Path:
    """The baseline's executable, in its own virtualenv (their dependencies conflict)."""
    venv = BASELINE_VENVS / package
    if not (venv / "bin" / exe).exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", package],
            check=True,
            stderr=subprocess.DEVNULL,
        )
    return venv / "bin" / exe


def target_run(stream: str, records: int, source: Path, table_format: str) -> Measure:
    """target-s3-parquet on `source`, writing to a fresh local folder in `table_format`."""
    out = WORK / f"out-{stream}"
    shutil.rmtree(out, ignore_errors=True)
    config = WORK / "target-config.json"
    config.write_text(json.dumps({"output_uri": str(out), **FORMATS[table_format]}))
    command = [str(ROOT / ".venv" / "bin" / "target-s3-parquet"), "--config", str(config)]
    measure = timed(f"target-s3-parquet {table_format}", stream, records, command, source, WORK)
    measure.table_format = table_format
    return measure


@dataclass
class CommitPoint:
    """The Iceberg table after `commits` commits."""

    commits: int
    latency_ms: float  # median of the commits around this point
    metadata_files: int
    metadata_bytes: int


def commit_latency(total: int, rows: int = 100) -> list[CommitPoint]:
    """`total` commits of `rows` new trades each into a fresh local Iceberg table."""
    import pyarrow as pa
    from schemahub_core.mapping import load_mappings
    from target_s3_parquet.iceberg_table import IcebergUnifiedTable

    out = WORK / "out-commits"
    shutil.rmtree(out, ignore_errors=True)
    table = IcebergUnifiedTable.open({"output_uri": str(out)}, compression="zstd")
    mapping = load_mappings()["binance_trades"]
    metadata = out / "schemahub" / "trades_unified" / "metadata"
    points, latencies = [], []
    marks = {1, 100, 1_000, total}
    for n in range(1, total + 1):
        records = [binance_record("BTCUSDT", i) for i in range((n - 1) * rows + 1, n * rows + 1)]
        batch = mapping.apply(pa.Table.from_pylist(records))
        started = time.perf_counter()
        table.commit("BINANCE", "BTCUSDT", batch)
        latencies.append((time.perf_counter() - started) * 1000)
        if n in marks:
            around = sorted(latencies[max(0, n - 5) :])
            files = [f for f in metadata.iterdir() if f.is_file()]
            points.append(
                CommitPoint(
                    n, around[len(around) // 2], len(files), sum(f.stat().st_size for f in files)
                )
            )
            print(points[-1], flush=True)
    shutil.rmtree(out, ignore_errors=True)
    return points


def rss_check(records: int) -> Measure:
    """Stream `records` Binance-shaped records from a generator process through the target."""
    out = WORK / "out-rss"
    shutil.rmtree(out, ignore_errors=True)
    config = WORK / "target-config-rss.json"
    config.write_text(json.dumps({"output_uri": str(out), "table_format": "iceberg"}))
    generator = subprocess.Popen(
        [sys.executable, __file__, "--generate", "binance_trades", str(records)],
        stdout=subprocess.PIPE,
    )
    started = time.perf_counter()
    proc = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "target-s3-parquet"), "--config", str(config)],
        stdin=generator.stdout,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    assert generator.stdout is not None
    generator.stdout.close()
    _, status, usage = os.wait4(proc.pid, 0)
    generator.wait()
    if status != 0:
        raise SystemExit("target-s3-parquet failed in the RSS check")
    shutil.rmtree(out, ignore_errors=True)
    return Measure(
        "target-s3-parquet",
        "binance_trades (piped)",
        records,
        time.perf_counter() - started,
        usage.ru_maxrss / 1024,
    )


def machine() -> str:
    """CPU model and core count, load average, Python version."""
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{model}, {os.cpu_count()} cores shared with other jobs (load average at the end: "
        f"{load}), Python {platform.python_version()}"
    )


def _command(args: argparse.Namespace) -> str:
    """The command line that reproduces this run."""
    command = ".venv/bin/python bench/bench_target.py" + (" --rss-check" if args.rss_check else "")
    command += f" --commits {args.commits}" if args.commits else ""
    command += " --baseline-records 0" if not args.baseline_records else ""
    command += f" --streams {' '.join(args.streams)}" if args.streams else ""
    command += f" --repeat {args.repeat}" if args.repeat != 3 else ""
    return command


def _pairs_section(pairs: list[tuple[str, Measure, Measure, Measure]]) -> list[str]:
    """The Hive/Iceberg pairs table and each stream's median pair ratio."""
    lines = [
        "",
        "Pairs in run order (Hive, then Iceberg, then Iceberg+raw on the same file): wall "
        "seconds (CPU seconds), and Iceberg's records/s as a multiple of Hive's in the pair:",
        "",
        "| stream | Hive | Iceberg | Iceberg+raw | Iceberg vs Hive | raw tables cost |",
        "|---|---|---|---|---|---|",
    ]
    for stream, hive, iceberg, raw in pairs:
        lines.append(
            f"| {stream} | {hive.seconds:.1f} ({hive.cpu_seconds:.1f}) | "
            f"{iceberg.seconds:.1f} ({iceberg.cpu_seconds:.1f}) | "
            f"{raw.seconds:.1f} ({raw.cpu_seconds:.1f}) | "
            f"{hive.seconds / iceberg.seconds:.2f}x | {raw.seconds - iceberg.seconds:+.1f} s |"
        )
    lines.append("")
    for stream in STREAMS:
        ratios = sorted(h.seconds / i.seconds for s, h, i, _ in pairs if s == stream)
        if ratios:
            lines.append(
                f"- {stream}: median pair ratio Iceberg vs Hive {ratios[len(ratios) // 2]:.2f}x "
                f"(goal >= 0.8x)."
            )
    return lines


def report(
    target: list[Measure],
    pairs: list[tuple[str, Measure, Measure, Measure]],
    baselines: list[Measure],
    rss: list[Measure],
    commits: list[CommitPoint],
    args: argparse.Namespace,
) -> str:
    """The README section for this run."""
    command = _command(args)
    lines = [
        SECTION,
        "",
        "`bench/bench_target.py` generates Singer input (SCHEMA, RECORDs shaped like the taps' "
        "output, a STATE every 10k) and runs the real `target-s3-parquet` CLI on 2M Coinbase-"
        "shaped and 2M Binance-shaped records (local output folder: raw JSONL.gz + "
        "trades_unified, once per table format: `hive` = Hive Parquet + commit records, "
        "`iceberg` = Iceberg table in the default SQLite catalog; runs alternate), then "
        "`meltanolabs-target-csv` and `target-jsonl` from PyPI "
        "(each in its own virtualenv under bench/work/venvs/) on the first 200k records of "
        "the same files. "
        "records/s = records / wall time of the whole process, start-up included; peak RSS "
        "from wait4.",
        "",
        "```bash",
        command,
        "```",
        "",
        f"Latest run: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}, {machine()}.",
        "",
        "| target | stream | records | seconds | CPU s | records/s | peak RSS |",
        "|---|---|---|---|---|---|---|",
    ]
    for m in [*target, *baselines, *rss]:
        lines.append(
            f"| {m.name} | {m.stream} | {m.records:,} | {m.seconds:.1f} | {m.cpu_seconds:.1f} | "
            f"{m.per_second:,.0f} | {m.peak_rss_mb:.0f} MB |"
        )
    lines.append("")
    for m in target:
        if len(m.runs) > 1:
            lines.append(
                f"- target-s3-parquet {m.table_format} {m.stream}: "
                f"median of {len(m.runs)} runs, each "
                + ", ".join(f"{s:.1f} s" for s in m.runs)
                + f" ({min(m.records / s for s in m.runs):,.0f}-"
                f"{max(m.records / s for s in m.runs):,.0f} records/s)."
            )
    lines += _pairs_section(pairs)
    if rss:
        lines.append(
            "- piped runs: records come from a generator process through a pipe, which is "
            "their bottleneck; they show that peak RSS does not grow with stream length."
        )
    for stream in (s for s in STREAMS if any(m.stream == s for m in target)):
        hive, iceberg = (
            next(m for m in target if m.stream == stream and m.table_format == f)
            for f in ("hive", "iceberg")
        )
        raw = next(m for m in target if m.stream == stream and m.table_format == "iceberg+raw")
        lines.append(
            f"- {stream}: Iceberg {iceberg.per_second / hive.per_second:.2f}x Hive in this run "
            f"(goal >= 0.8x); with the raw Iceberg tables "
            f"{raw.per_second / hive.per_second:.2f}x Hive "
            f"({raw.seconds - iceberg.seconds:+.1f} s over Iceberg alone, medians)."
        )
        if not baselines:
            continue
        ours = iceberg
        best = max((m for m in baselines if m.stream == stream), key=lambda m: m.per_second)
        lines.append(
            f"- {stream}: {ours.per_second / best.per_second:.0f}x the better baseline "
            f"({best.name}, {best.per_second:,.0f} records/s)."
        )
    if commits:
        lines += [
            "",
            f"Iceberg commit latency (`--commits {args.commits}`: commits of 100 new trades each "
            "into one local table; median of the 5 commits up to the point) and the size of "
            "its metadata folder (metadata JSON files, manifest lists, manifests):",
            "",
            "| after commits | commit latency | metadata files | metadata size |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {p.commits:,} | {p.latency_ms:.0f} ms | {p.metadata_files:,} | "
            f"{p.metadata_bytes / 1024:,.0f} KiB |"
            for p in commits
        ]
    lines.append("")
    return "\n".join(lines)


def write_readme(section: str) -> None:
    """Replace (or append) this benchmark's section of bench/README.md, keeping the others."""
    readme = ROOT / "bench" / "README.md"
    text = readme.read_text() if readme.exists() else "# Benchmarks\n"
    start = text.find(SECTION + "\n")
    if start == -1:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + len(SECTION))
        text = text[:start] + section + ("" if end == -1 else text[end + 1 :])
    readme.write_text(text if text.endswith("\n") else text + "\n")


def generate(stream: str, count: int) -> None:
    """Print SCHEMA + `count` RECORDs to stdout, fast enough to feed the target through a pipe.

    A printf-style template of `record_line(binance_record(...))` (checked against it below):
    json.dumps per record would make the generator, not the target, the bottleneck.
    """
    if stream != "binance_trades":
        raise SystemExit("--generate supports binance_trades")
    template = (
        '{"type": "RECORD", "stream": "binance_trades", "record": {"id": %d, "price": "%.8f", '
        '"qty": "%.8f", "quoteQty": "%.8f", "time": %d, "isBuyerMaker": %s, '
        '"isBestMatch": true, "symbol": "BTCUSDT", "base_asset": "BTC", "quote_asset": "USDT", '
        '"exchange": "BINANCE"}, "time_extracted": "%s"}\n'
    )
    epoch_us = int(EPOCH.timestamp()) * 1_000_000

    def line(i: int) -> str:
        price, qty = 60000 + (i % 5000) / 100, (i % 977) / 1000 + 0.00001
        maker = "true" if i % 2 == 0 else "false"
        return template % (i, price, qty, price * qty, epoch_us + i * STEP_US, maker, EXTRACTED_AT)

    assert line(7) == record_line(stream, binance_record("BTCUSDT", 7)) + "\n"
    out = sys.stdout
    out.write(schema_line(stream) + "\n")
    for start in range(1, count + 1, 10_000):
        out.write("".join(line(i) for i in range(start, min(start + 10_000, count + 1))))


def main() -> None:
    """Run the benchmark (or, with --generate, print input for the RSS check)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=2_000_000)
    parser.add_argument(
        "--baseline-records", type=int, default=200_000, help="0: skip the baselines"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of target-s3-parquet per stream (median)"
    )
    parser.add_argument("--rss-check", action="store_true", help="also stream 10M records")
    parser.add_argument("--rss-records", type=int, default=10_000_000)
    parser.add_argument(
        "--commits", type=int, default=0, help="also time this many Iceberg commits (1000)"
    )
    parser.add_argument(
        "--streams", nargs="+", choices=list(STREAMS), help="only these streams (default: all)"
    )
    parser.add_argument("--write-readme", action="store_true")
    parser.add_argument("--generate", nargs=2, metavar=("STREAM", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        generate(args.generate[0], int(args.generate[1]))
        return

    WORK.mkdir(parents=True, exist_ok=True)
    target, baselines = [], []
    pairs: list[tuple[str, Measure, Measure, Measure]] = []
    for stream in args.streams or STREAMS:
        full = WORK / f"{stream}-{args.records}.jsonl"
        write_input(full, stream, args.records)
        runs: dict[str, list[Measure]] = {name: [] for name in FORMATS}
        for _ in range(args.repeat):
            for table_format, measures in runs.items():  # alternating: the same load for both
                measures.append(target_run(stream, args.records, full, table_format))
                print(measures[-1], flush=True)
            pairs.append((stream, *(runs[f][-1] for f in FORMATS)))  # type: ignore[arg-type]
        for measures in runs.values():
            measures.sort(key=lambda m: m.seconds)
            median = measures[len(measures) // 2]
            median.runs = tuple(m.seconds for m in measures)
            target.append(median)
        part = WORK / f"{stream}-{args.baseline_records}.jsonl"
        head(full, part, args.baseline_records)
        for package, exe in BASELINES.items() if args.baseline_records else ():
            out = WORK / f"baseline-{exe}"
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()
            config = out / "config.json"
            config.write_text(json.dumps({"output_path": str(out), "destination_path": str(out)}))
            baselines.append(
                timed(
                    package,
                    stream,
                    args.baseline_records,
                    [str(ensure_baseline(package, exe)), "--config", str(config)],
                    part,
                    out,
                )
            )
            print(baselines[-1], flush=True)
    rss = []
    if args.rss_check:
        rss.append(rss_check(args.rss_records // 5))
        rss.append(rss_check(args.rss_records))
        for m in rss:
            print(m, flush=True)
    commits = commit_latency(args.commits) if args.commits else []
    section = report(target, pairs, baselines, rss, commits, args)
    print(section)
    if args.write_readme:
        write_readme(section)


if __name__ == "__main__":
    main()
