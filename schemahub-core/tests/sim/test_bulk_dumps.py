"""Binance bulk dumps (data.binance.vision layout) served by the Binance simulator."""

from __future__ import annotations

import csv
import hashlib
import io
import re
import zipfile

import pytest
import requests

START = "2026-11-25T12:00:00Z"
DAILY = "/data/spot/daily/trades/{s}/{s}-trades-{d}.zip"
MONTHLY = "/data/spot/monthly/trades/{s}/{s}-trades-{m}.zip"


@pytest.fixture
def sim(sim_factory):
    return sim_factory("binance", seed=7, clock="frozen", start_time=START)


def fetch_csv(sim, path):
    response = requests.get(sim.url + path, timeout=30)
    assert response.status_code == 200, (path, response.text[:200])
    assert response.headers["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    [name] = archive.namelist()
    assert name == path.rsplit("/", 1)[1].replace(".zip", ".csv")
    return response.content, archive.read(name).decode()


def as_csv_rows(trades):
    """The oracle's trades written the way the dumps write them (no header, True/False)."""
    return [
        [
            str(t["id"]),
            t["price"],
            t["qty"],
            t["quoteQty"],
            str(t["time"]),
            str(t["isBuyerMaker"]),
            "True",
        ]
        for t in trades
    ]


def test_daily_dump_before_2025_is_exactly_that_days_trades_in_milliseconds(sim):
    _, text = fetch_csv(sim, DAILY.format(s="LTCBTC", d="2024-12-31"))
    rows = list(csv.reader(io.StringIO(text)))
    assert not rows[0][0].isalpha(), "no header row"
    expected = sim.oracle.trades_between(
        "LTCBTC", "2024-12-31T00:00:00Z", "2025-01-01T00:00:00Z", time_unit="ms"
    )
    assert len(expected) > 100
    assert rows == as_csv_rows(expected)
    assert {r[5] for r in rows} == {"True", "False"}
    assert all(len(r[4]) == 13 for r in rows), "epoch milliseconds"


def test_daily_dump_from_2025_uses_microseconds_and_matches_rest(sim):
    _, text = fetch_csv(sim, DAILY.format(s="LTCBTC", d="2025-01-02"))
    rows = list(csv.reader(io.StringIO(text)))
    expected = sim.oracle.trades_between("LTCBTC", "2025-01-02T00:00:00Z", "2025-01-03T00:00:00Z")
    assert rows == as_csv_rows(expected)
    assert all(len(r[4]) == 16 for r in rows), "epoch microseconds"
    rest = requests.get(
        f"{sim.url}/api/v3/historicalTrades",
        params={"symbol": "LTCBTC", "fromId": rows[0][0], "limit": 5},
        headers={"X-MBX-TIME-UNIT": "MICROSECOND"},
        timeout=10,
    ).json()
    assert as_csv_rows(rest) == rows[:5], "a dump holds exactly the REST trades"


def test_monthly_dump_and_sha256sum_checksum_sidecar(sim):
    path = MONTHLY.format(s="LTCBTC", m="2025-02")
    data, text = fetch_csv(sim, path)
    expected = sim.oracle.trades_between("LTCBTC", "2025-02-01T00:00:00Z", "2025-03-01T00:00:00Z")
    assert text.splitlines() == [",".join(r) for r in as_csv_rows(expected)]
    sidecar = requests.get(sim.url + path + ".CHECKSUM", timeout=10).text
    assert re.fullmatch(r"[0-9a-f]{64}  LTCBTC-trades-2025-02\.zip\n", sidecar)
    assert sidecar.split()[0] == hashlib.sha256(data).hexdigest()
    assert requests.get(sim.url + path, timeout=10).content == data, "byte-identical on refetch"


def test_corrupt_checksum_mode_serves_a_wrong_hash(sim):
    path = DAILY.format(s="LTCBTC", d="2025-01-02")
    data = requests.get(sim.url + path, timeout=10).content
    sim.configure(corrupt_checksum=True)
    sidecar = requests.get(sim.url + path + ".CHECKSUM", timeout=10).text
    assert re.fullmatch(r"[0-9a-f]{64}  \S+\n", sidecar)
    assert sidecar.split()[0] != hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(
    "path",
    [
        DAILY.format(s="LTCBTC", d="2026-11-25"),  # today: not published yet
        DAILY.format(s="LTCBTC", d="2027-01-01"),  # the future
        DAILY.format(s="LTCBTC", d="2020-03-01"),  # before the symbol's history
        DAILY.format(s="LUNAUSDT", d="2026-11-20"),  # no trading since the BREAK
        DAILY.format(s="LTCBTC", d="2025-02-30"),  # no such day
        MONTHLY.format(s="LTCBTC", m="2026-11"),  # month not over
        DAILY.format(s="NOPEBTC", d="2025-01-02"),  # unknown symbol
    ],
)
def test_missing_dumps_are_404_nosuchkey(sim, path):
    for suffix in ("", ".CHECKSUM"):
        response = requests.get(sim.url + path + suffix, timeout=10)
        assert response.status_code == 404
        assert "<Code>NoSuchKey</Code>" in response.text


def test_missing_dumps_mode_unpublishes_chosen_days_and_months(sim):
    day, month = DAILY.format(s="LTCBTC", d="2025-01-02"), MONTHLY.format(s="LTCBTC", m="2025-02")
    assert requests.get(sim.url + day, timeout=10).status_code == 200
    sim.configure(missing_dumps="2025-01-02, 2025-02")
    for path in (day, day + ".CHECKSUM", month):
        assert requests.get(sim.url + path, timeout=10).status_code == 404
    assert requests.get(sim.url + DAILY.format(s="LTCBTC", d="2025-01-03"), timeout=10).ok


def test_dumps_are_outside_the_api_limits_and_blocks(sim):
    sim.configure(restricted=True)
    response = requests.get(sim.url + DAILY.format(s="LTCBTC", d="2025-01-02"), timeout=10)
    assert response.status_code == 200
    assert "X-MBX-USED-WEIGHT-1M" not in response.headers
    assert sim.bulk_url == sim.url
