"""RECORD lines cut by their layout give exactly what decoding each line with msgspec gives.

The reader learns how a stream's RECORD lines are written and then cuts whole blocks of them
with numpy (record_lines.py). These tests feed input that mixes every layout the cut must
recognise with lines it must leave to msgspec, and compare everything the target writes
against a run with the cut switched off; and they check that lines which only look like a
RECORD are still rejected with the exact input line.
"""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
from singer_sdk.singerlib.exceptions import InvalidInputLine
from target_s3_parquet import input_blocks
from target_s3_parquet.batching import PendingRecords
from target_s3_parquet.reader import BatchedSingerReader
from target_s3_parquet.record_lines import Layout, learn_layout, match_lines
from target_s3_parquet.synthetic import (
    EXTRACTED_AT,
    binance_record,
    coinbase_record,
    schema_line,
    state_line,
)
from target_s3_parquet.target import TargetS3Parquet
from target_s3_parquet.testing import (
    Output,
    assert_exactly_once,
    read_unified,
    run_in_process,
    watermark,
)

SPACED_HEAD = b'{"type": "RECORD", "stream": "coinbase_trades", "record": '
COMPACT_HEAD = b'{"type":"RECORD","stream":"coinbase_trades","record":'


def compact(stream: str, record: dict, extracted: str | None = EXTRACTED_AT) -> str:
    """A RECORD line as singer-sdk writes it (no spaces)."""
    message = {"type": "RECORD", "stream": stream, "record": record}
    if extracted is not None:
        message["time_extracted"] = extracted
    return json.dumps(message, separators=(",", ":"))


def spaced(stream: str, record: dict, extracted: str | None = EXTRACTED_AT) -> str:
    """A RECORD line as Python's json.dumps writes it."""
    message = {"type": "RECORD", "stream": stream, "record": record}
    if extracted is not None:
        message["time_extracted"] = extracted
    return json.dumps(message)


def _block(lines: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    data = np.frombuffer("".join(f"{line}\n" for line in lines).encode(), dtype=np.uint8)
    ends = np.flatnonzero(data == ord("\n"))
    starts = np.concatenate(([0], ends[:-1] + 1))
    return data, starts, ends


def test_the_layouts_of_singer_sdk_and_json_dumps_are_learned_and_others_are_not():
    record = coinbase_record("BTC-USD", 1)
    raw = json.dumps(record).encode()
    for line, head in (
        (compact("coinbase_trades", record), COMPACT_HEAD),
        (spaced("coinbase_trades", record), SPACED_HEAD),
    ):
        # json.dumps writes the record with spaces in both lines; the head is what differs
        line = line.replace(json.dumps(record, separators=(",", ":")), json.dumps(record))
        layout = learn_layout(line.encode(), "coinbase_trades", raw, EXTRACTED_AT)
        assert layout is not None
        assert layout.head == head
    reordered = json.dumps(
        {"stream": "coinbase_trades", "type": "RECORD", "record": record}
    ).encode()
    assert learn_layout(reordered, "coinbase_trades", raw, None) is None
    escaped_stamp = spaced("coinbase_trades", record, "2026-06-19T16:45:00+00:00").replace(
        "+00:00", "\\u002b00:00"
    )
    assert (
        learn_layout(escaped_stamp.encode(), "coinbase_trades", raw, "2026-06-19T16:45:00+00:00")
        is None
    )


def test_match_lines_flags_exactly_the_lines_without_the_layout_and_finds_timestamp_runs():
    layout = Layout("coinbase_trades", SPACED_HEAD, b', "time_extracted": "')
    later = "2026-06-19T16:46:00.000001+00:00"
    lines = [
        spaced("coinbase_trades", coinbase_record("BTC-USD", 1)),
        spaced("coinbase_trades", coinbase_record("BTC-USD", 2)),
        state_line("coinbase_trades", "BTC-USD", 2),
        spaced("coinbase_trades", coinbase_record("BTC-USD", 3), later),
        spaced("coinbase_trades", ["not", "an", "object"], later),  # type: ignore[arg-type]
        spaced("coinbase_trades", coinbase_record("BTC-USD", 4), "2026-06-19T16:46:00Z"),
        spaced("coinbase_trades", coinbase_record("BTC-USD", 5), later).replace(
            "+00:00", "\\u002b00:00"
        ),
        compact("coinbase_trades", coinbase_record("BTC-USD", 6), later),
        spaced("binance_trades", binance_record("BTCUSDT", 7), later),
        spaced("coinbase_trades", coinbase_record("BTC-USD", 8), later),
    ]
    matched = match_lines(layout, *_block(lines))
    assert matched is not None
    assert matched.ok.tolist() == [True, True, False, True, False, False, False, False, False, True]
    runs = matched.extracted_runs(0, len(lines))
    assert runs[0] == (0, EXTRACTED_AT)
    assert (3, later) in runs
    assert matched.extracted_runs(3, 4) == [(0, later)]


def test_a_block_whose_first_line_has_another_layout_is_left_to_msgspec():
    layout = Layout("coinbase_trades", SPACED_HEAD, b', "time_extracted": "')
    lines = [state_line("coinbase_trades", "BTC-USD", 1)]
    lines.append(spaced("coinbase_trades", coinbase_record("BTC-USD", 1)))
    assert match_lines(layout, *_block(lines)) is None


def _coinbase_line(trade_id: int, stamp: str) -> str:
    """Trade `trade_id` as a RECORD line; some ids get a layout the cut must leave or take."""
    record = coinbase_record("BTC-USD", trade_id)
    if trade_id % 97 == 0:  # an extra envelope key between record and time_extracted
        record_json = json.dumps(record)
        return (
            '{"type": "RECORD", "stream": "coinbase_trades", "record": '
            f'{record_json}, "meta": {{"page": 1}}, "time_extracted": "{stamp}"}}'
        )
    if trade_id % 89 == 0:  # a timestamp JSON escapes
        return spaced("coinbase_trades", record, stamp).replace("+00:00", "\\u002b00:00")
    if trade_id % 61 == 0:  # no time_extracted
        return spaced("coinbase_trades", record, None)
    if trade_id % 83 == 0:  # the same length of tail, but another key
        return spaced("coinbase_trades", record, stamp).replace(
            '"time_extracted"', '"extracted_time"'
        )
    if 150 <= trade_id < 250:  # singer-sdk's compact layout
        return compact("coinbase_trades", record, stamp)
    return spaced("coinbase_trades", record, stamp)


def _mixed_input() -> list[str]:
    """Every kind of line the cut must take or leave, interleaved, in several batches."""
    lines = [schema_line("coinbase_trades"), schema_line("binance_trades")]
    for trade_id in range(1, 401):
        stamp = f"2026-06-19T16:{trade_id // 7 % 60:02d}:00.000001+00:00"  # a page of 7
        lines.append(_coinbase_line(trade_id, stamp))
        if trade_id % 5 == 0:
            lines.append(spaced("binance_trades", binance_record("BTCUSDT", trade_id), stamp))
        if trade_id % 13 == 0:
            lines.append(state_line("coinbase_trades", "BTC-USD", trade_id))
        if trade_id == 200:  # the same SCHEMA again
            lines.append(schema_line("coinbase_trades"))
        if trade_id == 300:  # a changed SCHEMA: the SDK replaces the stream's sink
            message = json.loads(schema_line("coinbase_trades"))
            message["schema"]["properties"]["note"] = {"type": ["string", "null"]}
            lines.append(json.dumps(message))
    return lines


def _raw_lines(output: Output, stream: str) -> list[dict]:
    assert output.local_root is not None
    rows = []
    for path in sorted((output.local_root / "raw" / stream).rglob("*.jsonl.gz")):
        for line in gzip.decompress(path.read_bytes()).splitlines():
            row = json.loads(line)
            row.pop("_sdc_received_at")
            rows.append(row)
    return sorted(rows, key=lambda row: row.get("trade_id", row.get("id")))


def _decoded_and_cut(
    tmp_path, monkeypatch, lines: list[str]
) -> tuple[dict[str, Output], dict[str, list[dict]], int]:
    """Run the target on `lines` with the cut switched off, then on; outputs, STATEs, cut."""
    monkeypatch.setattr(input_blocks, "READ_SIZE", 2048)  # many blocks of a few lines
    outputs = {}
    states = {}
    cut = []
    add_cut = PendingRecords.add_cut

    def counting(self, run):
        cut.append(len(run))
        add_cut(self, run)

    for name in ("decoded", "cut"):
        root = tmp_path / name
        outputs[name] = Output(str(root), {"output_uri": str(root)}, local_root=root)
        with monkeypatch.context() as patch:
            if name == "decoded":
                patch.setattr(BatchedSingerReader, "_cut_block", lambda *args: False)
            else:
                patch.setattr(PendingRecords, "add_cut", counting)
            states[name] = run_in_process({**outputs[name].config, "batch_size_rows": 64}, lines)
    return outputs, states, sum(cut)


def _assert_same_tables(outputs: dict[str, Output]) -> None:
    table = read_unified(outputs["cut"])
    decoded = read_unified(outputs["decoded"])
    by_trade = [("exchange", "ascending"), ("trade_id", "ascending")]
    same = [name for name in table.column_names if name != "ingest_ts"]  # the run's clock
    assert table.select(same).sort_by(by_trade).equals(decoded.select(same).sort_by(by_trade))


def test_cut_lines_give_the_same_raw_layer_table_and_states_as_decoding_each_line(
    tmp_path, monkeypatch
):
    outputs, states, cut = _decoded_and_cut(tmp_path, monkeypatch, _mixed_input())
    assert cut > 200  # of the 480 records: the cut was used, and not only once
    assert states["cut"] == states["decoded"]
    assert watermark(states["cut"][-1], "coinbase_trades") == 390
    for stream in ("coinbase_trades", "binance_trades"):
        assert _raw_lines(outputs["cut"], stream) == _raw_lines(outputs["decoded"], stream)
    coinbase = _raw_lines(outputs["cut"], "coinbase_trades")
    assert [row["trade_id"] for row in coinbase] == list(range(1, 401))
    assert "meta" not in coinbase[96]
    assert coinbase[96]["price"] == coinbase_record("BTC-USD", 97)["price"]
    assert coinbase[88]["_sdc_extracted_at"].endswith("+00:00")  # the escape, decoded
    assert coinbase[60]["_sdc_extracted_at"] is None
    assert coinbase[82]["_sdc_extracted_at"] is None
    assert coinbase[6]["_sdc_extracted_at"] == "2026-06-19T16:01:00.000001+00:00"
    _assert_same_tables(outputs)
    assert_exactly_once(
        read_unified(outputs["cut"]),
        {("COINBASE", "BTC-USD"): range(1, 401), ("BINANCE", "BTCUSDT"): range(5, 401, 5)},
    )


def test_a_schema_change_inside_a_block_of_cut_lines_moves_the_rest_to_the_new_sink(
    tmp_path, monkeypatch
):
    first, changed = (
        json.loads(schema_line("coinbase_trades")),
        json.loads(schema_line("coinbase_trades")),
    )
    first["schema"]["properties"]["note"] = {"type": "string"}
    changed["schema"]["properties"]["note"] = {"type": "integer"}
    lines = [json.dumps(first)]
    for trade_id in range(1, 61):
        # after the change, records carry an integer note: valid for the new SCHEMA only
        record = {**coinbase_record("BTC-USD", trade_id), **({"note": 5} if trade_id > 15 else {})}
        lines.append(spaced("coinbase_trades", record))
        if trade_id in (15, 33):  # inside a block: a changed SCHEMA, then the same again
            lines.append(json.dumps(changed))
    switched = []
    sink_named = TargetS3Parquet.sink_named

    def watching(self, stream):
        sink = sink_named(self, stream)
        switched.append(id(sink))
        return sink

    monkeypatch.setattr(TargetS3Parquet, "sink_named", watching)
    outputs, _, cut = _decoded_and_cut(tmp_path, monkeypatch, lines)
    assert cut > 40
    assert len(set(switched)) >= 2  # the cut path saw the sink being replaced
    assert _raw_lines(outputs["cut"], "coinbase_trades") == _raw_lines(
        outputs["decoded"], "coinbase_trades"
    )
    assert [row["trade_id"] for row in _raw_lines(outputs["cut"], "coinbase_trades")] == list(
        range(1, 61)
    )
    _assert_same_tables(outputs)


@pytest.mark.parametrize(
    "record_text",
    [
        '{"trade_id": 7,, "side": "buy"}',  # not JSON
        '{"trade_id": 7, "size": NaN}',  # not JSON, though Arrow's parser takes it
        '{"trade_id": 7} {"trade_id": 8}',  # two values
    ],
)
def test_a_line_that_only_looks_like_a_record_is_rejected_naming_its_line(
    local_output, record_text, monkeypatch
):
    monkeypatch.setattr(input_blocks, "READ_SIZE", 1024)  # the bad line in a block to cut
    good = [spaced("coinbase_trades", coinbase_record("BTC-USD", i)) for i in range(1, 7)]
    bad = f'{SPACED_HEAD.decode()}{record_text}, "time_extracted": "{EXTRACTED_AT}"}}'
    lines = [schema_line("coinbase_trades"), *good, bad, *good]
    with pytest.raises(InvalidInputLine, match="input line 8: not a valid Singer message"):
        run_in_process(local_output.config, lines)
    assert not local_output.keys("unified")


def test_records_that_merge_and_split_across_lines_are_still_rejected(local_output, monkeypatch):
    # Line 23's record ends inside line 24's and line 25's holds two objects: msgspec would
    # count the right number of values in the run, but each line alone is invalid.
    monkeypatch.setattr(input_blocks, "READ_SIZE", 4096)
    good = [spaced("coinbase_trades", coinbase_record("BTC-USD", i)) for i in range(1, 21)]
    tricky = [
        f'{SPACED_HEAD.decode()}{record}, "time_extracted": "{EXTRACTED_AT}"}}'
        for record in ('{"a": [{}', "{}]}", '{"x": 1},{"y": 2}')
    ]
    lines = [schema_line("coinbase_trades"), *good, good[0], *tricky, *good]
    with pytest.raises(InvalidInputLine, match="input line 23: not a valid Singer message"):
        run_in_process(local_output.config, lines)
