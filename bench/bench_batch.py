"""The BATCH lane against the RECORD lane and the one-process limit, on a dumps backfill.

Several busy days of BTCUSDT dumps (≥ 10M trades) from the Binance simulator are built once
and cached under bench/work/batch/dumps/ (the simulator's dump generation is not measured);
a small static server serves them as data.binance.vision, the simulator answers the REST
calls (exchangeInfo, aggTrades, a few seconds of historicalTrades after the last day).
For each table format, alternately and `--rounds` times:

- BATCH lane: `meltano run tap-binance target-s3-parquet` with `batch_config` (Parquet);
- RECORD lane: the same run without it (RECORD lines, the taps' fast path);
- one-process limit: one Python process that unzips, parses the CSV with Arrow (the tap's
  reader and checks), maps with the target's mapping and writes zstd Parquet.

Reported: wall and CPU time (user+sys of every process), trades/s, steady state of the BATCH
lane (first batch file written to the last STATE Meltano saved), peak RSS of each process.
Every Meltano run is checked: the unified table holds exactly the expected trades.

    .venv/bin/python bench/bench_batch.py                      # 6 days, hive + iceberg
    .venv/bin/python bench/bench_batch.py --days 2 --formats hive --rounds 1   # quick look
    .venv/bin/python bench/bench_batch.py --write-readme

Where the lane's CPU goes, stage by stage: bench/bench_batch_stages.py (same cached dumps).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / "work" / "batch"
DUMPS = WORK / "dumps"
PROJECT = WORK / "project"
MELTANO = os.environ.get("MELTANO") or str(ROOT / ".venv-meltano" / "bin" / "meltano")
LINKED = ("schemahub-core", "tap-coinbase", "tap-binance", "tap-kraken", "target-s3-parquet")
LINKED += ("mappings",)
SYMBOL = "BTCUSDT"
SEED = 5
FIRST_DAY = date(2025, 3, 1)  # microsecond dumps
# The market clock stands a few seconds after the last dumped day: the REST tail is tiny.
TAIL = timedelta(seconds=5)
BATCH_CONFIG = {
    "encoding": {"format": "parquet", "compression": "none"},
    "storage": {"root": str(WORK / "batch-files")},
    "batch_size": 1_000_000,
}
STATE_LINE = "Incremental state has been updated"
FIRST_BATCH_LINE = "batch file 1 written"
TIMESTAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z)")


@dataclass
class Measure:
    """One run of one lane."""

    lane: str
    table_format: str
    trades: int
    wall: float
    cpu: float
    peak_rss_mb: dict[str, float] = field(default_factory=dict)
    steady: float | None = None

    @property
    def rate(self) -> float:
        """Trades per second over the whole run."""
        return self.trades / self.wall


def last_day(days: int) -> date:
    """The last dumped day."""
    return FIRST_DAY + timedelta(days=days - 1)


def market_start(days: int) -> str:
    """The simulator's market instant: just after the last dumped day."""
    midnight = datetime.combine(last_day(days) + timedelta(1), datetime.min.time(), UTC)
    return (midnight + TAIL).isoformat()


def start_sim(days: int):
    """The Binance simulator of the benchmark (same seed and clock for cache and runs)."""
    from schemahub_core.sim import start_simulator

    return start_simulator(
        "binance",
        seed=SEED,
        port=0,
        clock="frozen",
        rate_limit=False,
        start_time=market_start(days),
        history_trades=int(days * 1.8e6) + 100_000,
    )


def dump_name(day: date) -> str:
    """File name of the daily dump of `day`."""
    return f"{SYMBOL}-trades-{day.isoformat()}.zip"


def build_dumps(days: int) -> list[Path]:
    """The daily zips (and their .CHECKSUM) on disk, downloaded from the simulator once."""
    folder = DUMPS / f"seed{SEED}-{days}d" / "data" / "spot" / "daily" / "trades" / SYMBOL
    wanted = [FIRST_DAY + timedelta(n) for n in range(days)]
    missing = [d for d in wanted if not (folder / (dump_name(d) + ".CHECKSUM")).exists()]
    if missing:
        folder.mkdir(parents=True, exist_ok=True)
        sim = start_sim(days)
        try:
            for day in missing:
                url = f"{sim.bulk_url}/data/spot/daily/trades/{SYMBOL}/{dump_name(day)}"
                started = time.perf_counter()
                with urllib.request.urlopen(url) as response:
                    data = response.read()
                (folder / dump_name(day)).write_bytes(data)
                digest = hashlib.sha256(data).hexdigest()
                (folder / (dump_name(day) + ".CHECKSUM")).write_text(
                    f"{digest}  {dump_name(day)}\n"
                )
                print(f"  built {dump_name(day)} ({len(data) / 1e6:.0f} MB) in "
                      f"{time.perf_counter() - started:.0f} s", flush=True)  # fmt: skip
        finally:
            sim.stop()
    return [folder / dump_name(d) for d in wanted]


class QuietHandler(SimpleHTTPRequestHandler):
    """A static file handler that logs nothing."""

    def log_message(self, format: str, *args: object) -> None:
        """Log nothing: one line per request would drown the benchmark's output."""


def serve_dumps(days: int) -> tuple[ThreadingHTTPServer, str]:
    """A static server for the cached dumps (404 for anything else, as the real site)."""
    handler = partial(QuietHandler, directory=str(DUMPS / f"seed{SEED}-{days}d"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def prepare_project() -> None:
    """Create (once) and install the benchmark's Meltano project (a copy of meltano.yml)."""
    PROJECT.mkdir(parents=True, exist_ok=True)
    for name in LINKED:
        link = PROJECT / name
        if not link.exists():
            link.symlink_to(ROOT / name, target_is_directory=True)
    (PROJECT / "meltano.yml").write_text((ROOT / "meltano.yml").read_text())
    subprocess.run([MELTANO, "install"], cwd=PROJECT, check=True, capture_output=True)


class RssWatcher:
    """Samples the resident memory of every process under a root pid, by command."""

    def __init__(self, pid: int) -> None:
        """Start sampling the tree of `pid` every 0.1 s."""
        self.pid = pid
        self.peak: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            for pid, name in self._tree():
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                except OSError:
                    continue
                rss = re.search(r"VmRSS:\s+(\d+) kB", status)
                if rss:
                    self.peak[name] = max(self.peak.get(name, 0.0), int(rss.group(1)) / 1024)

    def _tree(self) -> list[tuple[int, str]]:
        children: dict[int, list[int]] = {}
        names: dict[int, str] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
            words = [Path(w.decode()).name for w in cmdline[:3] if w]
            names[int(entry.name)] = next(
                (w for w in words if w.startswith(("tap-", "target-", "meltano"))),
                words[0] if words else "?",
            )
        found, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            found.append((pid, names.get(pid, "?")))
            todo.extend(children.get(pid, []))
        return found

    def stop(self) -> dict[str, float]:
        """Stop sampling; peak RSS in MB by process name."""
        self._stop.set()
        self._thread.join()
        return {name: round(mb) for name, mb in self.peak.items() if name != "?"}


def timed(command: list[str], env: dict[str, str] | None, log: Path) -> tuple[float, float, dict]:
    """Run `command`; wall seconds, CPU seconds of it and its children, peak RSS by process."""
    before = os.times()
    started = time.perf_counter()
    with log.open("w") as err:
        process = subprocess.Popen(
            command, cwd=PROJECT, env=env, stdout=subprocess.DEVNULL, stderr=err
        )
        watcher = RssWatcher(process.pid)
        code = process.wait()
    wall = time.perf_counter() - started
    after = os.times()
    peaks = watcher.stop()
    if code != 0:
        sys.exit(f"{' '.join(command)} failed ({code}); log: {log}")
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    return wall, cpu, peaks


def steady_state(log: Path) -> float | None:
    """Seconds from the first batch file written to the last STATE Meltano saved."""
    first = last = None
    for line in log.read_text().splitlines():
        stamp = TIMESTAMP.match(line)
        if not stamp:
            continue
        when = datetime.fromisoformat(stamp.group(1).replace("Z", "+00:00"))
        if first is None and FIRST_BATCH_LINE in line:
            first = when
        if STATE_LINE in line:
            last = when
    return (last - first).total_seconds() if first and last else None


def meltano_lane(
    lane: str, table_format: str, days: int, api_url: str, bulk_url: str, expected: int
) -> Measure:
    """One `meltano run tap-binance target-s3-parquet`, checked against the expected count."""
    from schemahub_core.check import check_unified_table

    out = WORK / f"out-{lane}-{table_format}"
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(WORK / "batch-files", ignore_errors=True)
    database = WORK / f"meltano-{lane}-{table_format}.db"
    database.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TAP_", "TARGET_"))}
    env.update(
        TAP_BINANCE_API_URL=api_url,
        TAP_BINANCE_BULK_URL=bulk_url,
        TAP_BINANCE_SYMBOLS=json.dumps([SYMBOL]),
        TAP_BINANCE_START_DATE=f"{FIRST_DAY.isoformat()}T00:00:00Z",
        TAP_BINANCE_BACKFILL_SOURCE="bulk",
        TAP_BINANCE_WEIGHT_LIMIT_PER_MINUTE="100000000",
        TARGET_S3_PARQUET_OUTPUT_URI=str(out),
        TARGET_S3_PARQUET_TABLE_FORMAT=table_format,
        MELTANO_DATABASE_URI=f"sqlite:///{database}",
    )
    if lane == "batch":
        env["TAP_BINANCE_BATCH_CONFIG"] = json.dumps(BATCH_CONFIG)
        env["TARGET_S3_PARQUET_DELETE_BATCH_FILES"] = "true"
    log = WORK / f"{lane}-{table_format}.log"
    wall, cpu, peaks = timed([MELTANO, "run", "tap-binance", "target-s3-parquet"], env, log)
    report = check_unified_table(str(out))
    rows = sum(s.rows for s in report.symbols)
    if rows != expected:
        sys.exit(
            f"{lane} lane ({table_format}) committed {rows} trades, expected {expected}; log: {log}"
        )
    steady = steady_state(log) if lane == "batch" else None
    return Measure(lane, table_format, rows, wall, cpu, peaks, steady)


def one_process(zips: list[Path], out: Path) -> int:
    """The limit: unzip + Arrow CSV (the tap's reader) + map + zstd Parquet; trades written."""
    import pyarrow.parquet as pq
    from schemahub_core.batch_files import constant_columns
    from schemahub_core.mapping import load_mappings
    from schemahub_core.schema import UNIFIED_SCHEMA
    from tap_binance.bulk import DumpPeriod, read_dump

    mapping = load_mappings()["binance_trades"]
    constants = {
        "symbol": SYMBOL,
        "base_asset": "BTC",
        "quote_asset": "USDT",
        "exchange": "BINANCE",
    }
    out.mkdir(parents=True, exist_ok=True)
    count = 0
    for path in zips:
        day = date.fromisoformat(path.name.removesuffix(".zip")[-10:])
        with pq.ParquetWriter(
            out / (path.stem + ".parquet"), UNIFIED_SCHEMA, compression="zstd"
        ) as writer:
            for batch in read_dump(path, DumpPeriod("daily", day, day)):
                writer.write_table(mapping.apply(constant_columns(batch, constants)))
                count += batch.num_rows
    return count


def limit_lane(days: int, table_format: str, expected_dumped: int) -> Measure:
    """The one-process limit, in its own process (so its RSS and CPU are its own)."""
    out = WORK / "out-limit"
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, __file__, "--one-process", "--days", str(days)]
    wall, cpu, peaks = timed(command, None, WORK / "limit.log")
    written = int((out / "count").read_text())
    if written != expected_dumped:
        sys.exit(f"the one-process limit wrote {written} trades, expected {expected_dumped}")
    return Measure(
        "one-process limit", table_format, written, wall, cpu, {"python": max(peaks.values())}
    )


def machine() -> str:
    """One line describing this machine."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, {platform.system()}"
    )


def report(results: list[Measure], days: int, rounds: int, command: str) -> str:
    """The bench/README.md section: medians per lane and format, ratios and goals."""
    lines = [
        "## BATCH lane (bench_batch.py)",
        "",
        f"{datetime.now(UTC):%Y-%m-%d}, {machine()}; shared with other jobs. `{command}`",
        "",
        f"{days} days of {SYMBOL} dumps from the simulator (cached), median of {rounds} round(s), "
        "lanes alternated in each round. CPU = user+sys of every process of the run.",
        "",
        "| format | lane | trades | wall s | CPU s | trades/s | steady trades/s | peak RSS MB |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    summary = []
    for table_format in dict.fromkeys(r.table_format for r in results):
        medians = {}
        for lane in ("batch", "record", "one-process limit"):
            runs = [r for r in results if r.table_format == table_format and r.lane == lane]
            if not runs:
                continue
            wall = statistics.median(r.wall for r in runs)
            cpu = statistics.median(r.cpu for r in runs)
            steady = [r.trades / r.steady for r in runs if r.steady]
            peaks: dict[str, float] = {}
            for r in runs:
                for name, mb in r.peak_rss_mb.items():
                    peaks[name] = max(peaks.get(name, 0), mb)
            rss = ", ".join(f"{n} {mb:.0f}" for n, mb in sorted(peaks.items()))
            trades = runs[0].trades
            medians[lane] = trades / wall
            steady_text = f"{statistics.median(steady):,.0f}" if steady else ""
            lines.append(
                f"| {table_format} | {lane} | {trades:,} | {wall:.1f} | {cpu:.1f} | "
                f"{trades / wall:,.0f} | {steady_text} | {rss} |"
            )
        if {"batch", "record", "one-process limit"} <= medians.keys():
            of_limit = medians["batch"] / medians["one-process limit"]
            of_record = medians["batch"] / medians["record"]
            summary.append(
                f"- {table_format}: BATCH lane = {of_limit:.0%} of the one-process limit "
                f"(goal ≥ 60 %), {of_record:.1f}x the RECORD lane (goal ≥ 5x)"
            )
    return "\n".join([*lines, "", *summary, ""])


def write_readme(section: str) -> None:
    """Replace (or append) the BATCH section of bench/README.md."""
    readme = ROOT / "bench" / "README.md"
    text = readme.read_text()
    start = text.find("## BATCH lane (bench_batch.py)")
    if start == -1:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + 1)
        text = text[:start] + section + (text[end + 1 :] if end != -1 else "")
    readme.write_text(text)


def main() -> int:
    """Build the dumps once, then measure the lanes alternately."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--days", type=int, default=6, help="busy days of dumps (~1.73M trades each)"
    )
    parser.add_argument("--formats", default="hive,iceberg", help="table formats, comma-separated")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--lanes", default="batch,record,limit")
    parser.add_argument("--write-readme", action="store_true")
    parser.add_argument("--one-process", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    zips = build_dumps(args.days)
    if args.one_process:
        count = one_process(zips, WORK / "out-limit")
        (WORK / "out-limit" / "count").write_text(str(count))
        return 0
    print(
        f"dumps: {sum(p.stat().st_size for p in zips) / 1e6:.0f} MB in {len(zips)} files",
        flush=True,
    )
    prepare_project()
    sim = start_sim(args.days)
    server, bulk_url = serve_dumps(args.days)
    results: list[Measure] = []
    try:
        start = f"{FIRST_DAY.isoformat()}T00:00:00Z"
        expected = sim.oracle.newest_id(SYMBOL) - sim.oracle.id_at_or_after(SYMBOL, start) + 1
        end_us = int(datetime.fromisoformat(market_start(args.days)).timestamp() * 1e6) - int(
            TAIL.total_seconds() * 1e6
        )
        dumped = sim.oracle.id_at_or_after(SYMBOL, end_us) - sim.oracle.id_at_or_after(
            SYMBOL, start
        )
        print(f"expected: {expected} trades ({dumped} from the dumps)", flush=True)
        lanes = args.lanes.split(",")
        for _ in range(args.rounds):
            for table_format in args.formats.split(","):
                for lane in lanes:
                    if lane == "limit":
                        measure = limit_lane(args.days, table_format, dumped)
                    else:
                        measure = meltano_lane(
                            lane, table_format, args.days, sim.url, bulk_url, expected
                        )
                    results.append(measure)
                    print(f"  {measure}", flush=True)
    finally:
        server.shutdown()
        sim.stop()
    command = " ".join([".venv/bin/python bench/bench_batch.py", *sys.argv[1:]])
    section = report(results, args.days, args.rounds, command)
    print(section)
    if args.write_readme:
        write_readme(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
