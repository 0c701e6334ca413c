"""Dump planning and reading, on zip files written here (no network)."""

from __future__ import annotations

import json
import zipfile
from datetime import date
from pathlib import Path

import pytest
from tap_binance.bulk import DumpError, DumpPeriod, plan_periods, read_dump, select_ids
from tap_binance.fastpath import render_record_lines

ROWS = [
    "100,4.00000100,12.00000000,48.000012,1735689599999,True,True",
    "101,4.00000200,0.50000000,2.000001,1735689599999,False,True",
    "102,4.10000000,1.00000000,4.10000000,1735689600001,False,False",
]


def write_zip(
    path: Path, lines: list[str], header: bool = False, compression: int = zipfile.ZIP_STORED
) -> Path:
    body = ("id,price,qty,quoteQty,time,isBuyerMaker,isBestMatch\n" if header else "") + "\n"
    body = body[:-1] + "\n".join(lines) + "\n"
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        archive.writestr(path.name.replace(".zip", ".csv"), body)
    return path


def rows_of(path: Path, period: DumpPeriod) -> list[dict]:
    return [row for batch in read_dump(path, period) for row in batch.to_pylist()]


def test_plan_uses_monthly_files_for_whole_past_months_and_daily_files_elsewhere():
    periods = plan_periods(date(2024, 12, 30), date(2025, 3, 3))
    assert [(p.kind, p.label) for p in periods] == [
        ("daily", "2024-12-30"),
        ("daily", "2024-12-31"),
        ("monthly", "2025-01"),
        ("monthly", "2025-02"),
        ("daily", "2025-03-01"),
        ("daily", "2025-03-02"),
    ]


def test_plan_never_includes_the_end_day_nor_an_unfinished_month():
    assert [p.label for p in plan_periods(date(2025, 2, 1), date(2025, 2, 3))] == [
        "2025-02-01",
        "2025-02-02",
    ]
    assert plan_periods(date(2025, 2, 3), date(2025, 2, 3)) == []


def test_files_before_2025_are_milliseconds_and_become_microseconds(tmp_path):
    path = write_zip(tmp_path / "X-trades-2024-12-31.zip", ROWS)
    rows = rows_of(path, DumpPeriod("daily", date(2024, 12, 31), date(2024, 12, 31)))
    assert [r["time"] for r in rows] == [1735689599999000, 1735689599999000, 1735689600001000]
    assert rows[0] == {
        "id": 100,
        "price": "4.00000100",
        "qty": "12.00000000",
        "quoteQty": "48.000012",
        "time": 1735689599999000,
        "isBuyerMaker": True,
        "isBestMatch": True,
    }


def test_files_from_2025_on_are_already_microseconds(tmp_path):
    lines = [row.replace("1735689600001", "1735689600001234") for row in ROWS[2:]]
    path = write_zip(tmp_path / "X-trades-2025-01-01.zip", lines)
    rows = rows_of(path, DumpPeriod("daily", date(2025, 1, 1), date(2025, 1, 1)))
    assert rows[0]["time"] == 1735689600001234
    assert rows[0]["isBuyerMaker"] is False
    assert rows[0]["isBestMatch"] is False


def test_a_header_row_is_skipped(tmp_path):
    path = write_zip(tmp_path / "X-trades-2025-01-01.zip", ROWS, header=True)
    assert [
        r["id"] for r in rows_of(path, DumpPeriod("daily", date(2025, 1, 1), date(2025, 1, 1)))
    ] == [
        100,
        101,
        102,
    ]


@pytest.mark.parametrize(
    ("bad_row", "message"),
    [
        ('103,4.1",1,1,1735689600001,True,True', "price"),
        ("103,4.1,1,1,1735689600001,Yes,True", "invalid value 'Yes'"),
        ("99,4.1,1,1,1735689600001,True,True", "ascending"),
    ],
)
def test_bad_content_is_rejected_with_the_file_name(tmp_path, bad_row, message):
    path = write_zip(tmp_path / "X-trades-2025-01-01.zip", [*ROWS, bad_row])
    with pytest.raises(DumpError, match=message) as caught:
        rows_of(path, DumpPeriod("daily", date(2025, 1, 1), date(2025, 1, 1)))
    assert "X-trades-2025-01-01.zip" in str(caught.value)


def test_fast_lines_are_the_json_of_the_records(tmp_path):
    path = write_zip(tmp_path / "X-trades-2024-12-31.zip", ROWS)
    batch = next(read_dump(path, DumpPeriod("daily", date(2024, 12, 31), date(2024, 12, 31))))
    batch = select_ids(batch, 101, 102)
    constants = {"symbol": "X", "base_asset": "A", "quote_asset": "B", "exchange": "BINANCE"}
    text = render_record_lines(batch, "binance_trades", constants, "2026-01-01T00:00:00+00:00")
    messages = [json.loads(line) for line in text.splitlines()]
    expected = [{**row, **constants} for row in batch.to_pylist()]
    assert [m["record"] for m in messages] == expected
    assert {m["type"] for m in messages} == {"RECORD"}
    assert {m["stream"] for m in messages} == {"binance_trades"}
    assert text.endswith("\n")
    assert text.count("\n") == 2


def test_select_ids_keeps_a_batch_inside_the_range_whole_and_filters_others(tmp_path):
    path = write_zip(tmp_path / "X-trades-2025-01-01.zip", ROWS)
    batch = next(read_dump(path, DumpPeriod("daily", date(2025, 1, 1), date(2025, 1, 1))))
    assert select_ids(batch, 100, 102) is batch  # no copy when every id is wanted
    assert select_ids(batch, 101, 200)["id"].to_pylist() == [101, 102]
    assert select_ids(batch, 0, 100)["id"].to_pylist() == [100]
    assert select_ids(batch, 103, 200).num_rows == 0


DAY = DumpPeriod("daily", date(2025, 1, 1), date(2025, 1, 1))
MANY = [f"{100 + n},4.{n:08d},1.5,6.0,1735689600{n:06d},{n % 2 == 0},True" for n in range(50_000)]


def test_deflated_dumps_read_as_stored_ones(tmp_path):
    # The exchange's zips are deflated (read with ISA-L); stored ones go through zipfile.
    stored = write_zip(tmp_path / "S-trades-2025-01-01.zip", MANY, header=True)
    deflated = write_zip(
        tmp_path / "D-trades-2025-01-01.zip", MANY, header=True, compression=zipfile.ZIP_DEFLATED
    )
    rows = rows_of(deflated, DAY)
    assert len(rows) == len(MANY)
    assert rows == rows_of(stored, DAY)


@pytest.mark.parametrize("where", [0, 1, 2, 3])
def test_a_corrupt_deflated_member_is_refused_naming_the_file(tmp_path, where):
    path = write_zip(tmp_path / "X-trades-2025-01-01.zip", MANY, compression=zipfile.ZIP_DEFLATED)
    with zipfile.ZipFile(path) as archive:
        member = archive.infolist()[0]
    data = bytearray(path.read_bytes())
    start = member.header_offset + 30 + len(member.filename)
    data[start + where * member.compress_size // 4] ^= 0xFF  # a bit error somewhere
    path.write_bytes(bytes(data))
    with pytest.raises(DumpError, match=r"X-trades-2025-01-01\.zip"):
        rows_of(path, DAY)
