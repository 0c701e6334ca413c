"""The report page: plotly figures from the aggregates, in one HTML file with plotly.js inlined.

The page needs no network to be viewed (plotly.js, about 4.8 MB, is embedded once in the
head); each chart is a ``<div class="chart">`` that plotly fills when the page loads.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
import pyarrow as pa
import pyarrow.compute as pc
from plotly.offline import get_plotlyjs

from schemahub_core.report.aggregates import TradeAggregates

GAP_MARKERS_SHOWN = 500  # the largest gaps get a marker; the check's --json lists all
GAP_BANDS_SHOWN = 20  # ... and the largest of those a shaded band over their time window
# plotly_white's layout part only: each figure deep-copies its template, and the whole
# template (per-trace-type defaults included) made that copy most of the page's build time.
_TEMPLATE = go.layout.Template(layout=pio.templates["plotly_white"].layout)
_LAYOUT = {"template": _TEMPLATE, "height": 380, "margin": {"t": 40, "r": 20, "b": 40}}


@dataclass(frozen=True)
class Chart:
    """One chart of the page: a title, what it shows, and the figure."""

    chart_id: str
    title: str
    caption: str
    figure: go.Figure


def _tuples(table: pa.Table, *columns: str) -> list[tuple[Any, ...]]:
    """The rows of ``columns`` as tuples (aggregated tables only: a few hundred rows)."""
    return list(zip(*(table[name].to_pylist() for name in columns), strict=True))


def _labels(table: pa.Table) -> list[str]:
    """The "EXCHANGE SYMBOL" label of every row."""
    return [f"{e} {s}" for e, s in _tuples(table, "exchange", "symbol")]


def _symbols(table: pa.Table) -> Iterator[tuple[str, pa.Table]]:
    """Yield ("EXCHANGE SYMBOL", its rows) for every (exchange, symbol) in ``table``."""
    pairs = table.select(["exchange", "symbol"]).group_by(["exchange", "symbol"]).aggregate([])
    for exchange, symbol in sorted(_tuples(pairs, "exchange", "symbol")):
        mask = pc.and_(pc.equal(table["exchange"], exchange), pc.equal(table["symbol"], symbol))
        yield f"{exchange} {symbol}", table.filter(mask)


def _trades_chart(data: TradeAggregates) -> Chart:
    figure = go.Figure(layout=_LAYOUT)
    for label, rows in _symbols(data.per_interval):
        figure.add_scatter(x=rows["bucket"], y=rows["trades"], name=label, mode="lines+markers")
    gaps = data.gaps.slice(0, GAP_MARKERS_SHOWN)
    if gaps.num_rows:
        # A marker at each gap's window (a few seconds is invisible as a band on a day axis).
        windows = _tuples(gaps, "window_start", "window_end")
        middle = [start + (end - start) / 2 for start, end in windows]
        text = [
            f"{e} {s}: ids {lo}..{hi} ({n} missing)<br>{start:%Y-%m-%d %H:%M:%S} → {end:%H:%M:%S}"
            for e, s, lo, hi, n, start, end in _tuples(
                gaps,
                "exchange",
                "symbol",
                "first_missing_id",
                "last_missing_id",
                "missing_ids",
                "window_start",
                "window_end",
            )
        ]
        # One layout update for all bands: add_vrect re-validates every shape at each call.
        band = {"type": "rect", "xref": "x", "yref": "paper", "y0": 0, "y1": 1}
        band |= {"fillcolor": "crimson", "opacity": 0.15, "line_width": 0}
        figure.update_layout(
            shapes=[{**band, "x0": start, "x1": end} for start, end in windows[:GAP_BANDS_SHOWN]]
        )
        sizes = [8 + 4 * math.log10(n) for n in gaps["missing_ids"].to_pylist()]
        figure.add_scatter(
            x=middle,
            y=[0] * len(middle),
            name="gaps",
            mode="markers",
            marker={"color": "crimson", "symbol": "x", "size": sizes},
            hovertext=text,
            hoverinfo="text",
        )
    figure.update_layout(yaxis_title=f"trades per {data.interval}")
    total = sum(data.gaps["missing_ids"].to_pylist()) if data.gaps.num_rows else 0
    caption = (
        f"Trades per {data.interval} and symbol. Red crosses: gaps in the trade ids"
        f" ({data.gaps.num_rows} gaps, {total} missing ids; hover for the id range and time"
        " window; `schemahub check` prints the backfill that fills them)."
    )
    return Chart("trades", f"Trades per {data.interval}, gaps marked", caption, figure)


def _freshness_chart(data: TradeAggregates) -> Chart:
    labels = _labels(data.freshness)
    ages = data.freshness["age_seconds"].to_pylist()
    # Minutes for a running schedule, hours or days for an old or stopped one.
    unit, seconds = next(
        (u, s)
        for u, s in (("days", 86400), ("hours", 3600), ("minutes", 60))
        if max(ages, default=0) >= 3 * s or u == "minutes"
    )
    values = [a / seconds for a in ages]
    figure = go.Figure(go.Bar(x=labels, y=values, text=[f"{v:.1f}" for v in values]), _LAYOUT)
    figure.update_layout(yaxis_title=f"{unit} since the newest trade")
    caption = "Age of each symbol's newest trade when the report was written."
    return Chart("freshness", "Freshness", caption, figure)


def _price_charts(data: TradeAggregates) -> list[Chart]:
    charts = []
    for index, (label, rows) in enumerate(_symbols(data.per_interval)):
        # VWAP on a second y axis over the volume bars (make_subplots does the same, slowly).
        figure = go.Figure(layout=_LAYOUT)
        figure.update_layout(
            yaxis={"title": {"text": "volume (base asset)"}},
            yaxis2={"title": {"text": "VWAP"}, "overlaying": "y", "side": "right"},
        )
        figure.add_bar(x=rows["bucket"], y=rows["volume"], name="volume", opacity=0.4)
        figure.add_scatter(
            x=rows["bucket"], y=rows["vwap"], name="VWAP", mode="lines+markers", yaxis="y2"
        )
        caption = f"Volume-weighted average price and volume per {data.interval}."
        charts.append(Chart(f"price-{index}", f"{label}: price and volume", caption, figure))
    return charts


def _heat_map(table: pa.Table, value: str, title: str, colors: str) -> go.Figure:
    """A symbol-by-day heat map of ``value`` (columns exchange, symbol, date, value)."""
    labels = sorted(set(_labels(table)))
    days = sorted(set(table["date"].to_pylist()))
    # Days as text on a category axis: one cell per day, however few days there are.
    cells: dict[tuple[str, object], float] = {
        (f"{e} {s}", d): v for e, s, d, v in _tuples(table, "exchange", "symbol", "date", value)
    }
    z = [[cells.get((label, day)) for day in days] for label in labels]
    figure = go.Figure(
        go.Heatmap(
            x=[str(day) for day in days],
            y=labels,
            z=z,
            colorscale=colors,
            colorbar={"title": title},
        ),
        _LAYOUT,
    )
    figure.update_layout(height=max(200, 80 + 40 * len(labels)), xaxis_type="category")
    return figure


def _completeness_chart(data: TradeAggregates) -> Chart:
    figure = _heat_map(data.daily, "completeness_percent", "% of ids", "RdYlGn")
    caption = (
        "Share of trade ids present per symbol and UTC day (a gap counts against the day of the"
        " trade that ends it). Blank: the exchange's ids are sparse, nothing is missing by rule."
    )
    return Chart("completeness", "Completeness per day", caption, figure)


def _ingest_charts(history: pa.Table, data: TradeAggregates) -> list[Chart]:
    rows_figure = go.Figure(layout=_LAYOUT)
    for label, rows in _symbols(history):
        rows_figure.add_scatter(x=rows["committed_at"], y=rows["rows"], name=label, mode="markers")
    rows_figure.update_layout(yaxis_title="rows per commit")
    latency_figure = go.Figure(layout=_LAYOUT)
    for label, rows in _symbols(data.ingest_latency):
        latency_figure.add_scatter(
            x=rows["ingest_ts"], y=rows["latency_seconds"], name=label, mode="markers"
        )
    latency_figure.update_layout(yaxis_title="seconds", yaxis_type="log")
    return [
        Chart(
            "ingest-rows",
            "Ingest history: rows per commit",
            f"One point per commit into the table ({history.num_rows} commits).",
            rows_figure,
        ),
        Chart(
            "ingest-latency",
            "Commit latency",
            "Per committed batch: how old its newest trade was when it was written (ingest_ts minus"
            " newest trade_ts). Backfills sit high; the incremental schedule should sit low.",
            latency_figure,
        ),
    ]


def _storage_charts(storage: pa.Table) -> list[Chart]:
    areas = storage.group_by("area").aggregate([("bytes", "sum"), ("files", "sum")])
    areas = areas.sort_by("area")
    mebibytes = [b / 2**20 for b in areas["bytes_sum"].to_pylist()]
    bytes_figure = go.Figure(
        go.Bar(
            x=areas["area"].to_pylist(),
            y=mebibytes,
            text=[
                f"{m:.2f} MiB, {f} files"
                for m, f in zip(mebibytes, areas["files_sum"].to_pylist(), strict=True)
            ],
        ),
        _LAYOUT,
    )
    bytes_figure.update_layout(yaxis_title="MiB")
    unified = storage.filter(pc.equal(storage["area"], "unified"))
    files_figure = _heat_map(unified, "files", "files", "Blues")
    return [
        Chart(
            "storage-bytes",
            "Storage: raw vs unified",
            "Bytes per area of the output location: raw (gzip JSONL audit trail), unified (the"
            " table's Parquet files), commit records.",
            bytes_figure,
        ),
        Chart(
            "storage-files",
            "Files per partition",
            "Parquet files per unified partition (symbol by day): many small files slow readers.",
            files_figure,
        ),
    ]


def build_charts(data: TradeAggregates, history: pa.Table, storage: pa.Table) -> list[Chart]:
    """Every chart of the report, in page order."""
    return [
        _trades_chart(data),
        _freshness_chart(data),
        *_price_charts(data),
        _completeness_chart(data),
        *_ingest_charts(history, data),
        *_storage_charts(storage),
    ]


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { margin-bottom: 0.2em; } .meta { color: #666; } .caption { color: #444; margin: 0; }
section { margin: 2em 0; } table { border-collapse: collapse; }
td, th { padding: 0.2em 0.8em; text-align: right; border-bottom: 1px solid #ddd; }
"""


def render_page(title: str, summary: list[tuple[str, str]], charts: list[Chart]) -> str:
    """Return the whole HTML page: summary lines, then each chart with its caption."""
    sections = []
    for chart in charts:
        body = chart.figure.to_html(
            full_html=False,
            include_plotlyjs=False,
            div_id=chart.chart_id,
            config={"displaylogo": False, "responsive": True},
        )
        sections.append(
            f'<section><h2>{html.escape(chart.title)}</h2>\n<p class="caption">'
            f"{html.escape(chart.caption)}</p>\n"
            f'<div class="chart">{body}</div></section>'
        )
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in summary
    )
    generated = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style>\n"
        f'<script type="text/javascript">{get_plotlyjs()}</script></head>\n<body>'
        f"<h1>{html.escape(title)}</h1><p class='meta'>generated {generated}</p>"
        f"<table>{rows}</table>\n" + "\n".join(sections) + "\n</body></html>\n"
    )
