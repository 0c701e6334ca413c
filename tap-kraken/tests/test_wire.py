"""Kraken's Trades body decoded exactly, and RECORD lines written exactly as singer-sdk would."""

from __future__ import annotations

import json

import msgspec
import pytest
from tap_kraken.client import parse_trades
from tap_kraken.emit import TradeLines

BODY = (
    b'{"error":[],"result":{"XXBTZUSD":[["30243.40000","0.34507674",1688669597.8277369,"b","m",'
    b'"",61044952],["30243.50000","1.00000000",1688669598,"s","l","",61044956]],'
    b'"last":"1688669598000000000"}}'
)


def test_time_keeps_every_digit_and_whole_seconds_stay_integers():
    page = parse_trades(BODY)
    assert [row[2] for row in page.rows] == ["1688669597.8277369", "1688669598"]
    assert page.rows[0] == (
        "30243.40000",
        "0.34507674",
        "1688669597.8277369",
        "b",
        "m",
        "",
        61044952,
    )
    assert page.last == 1688669598000000000
    assert page.plain


def test_a_time_in_another_number_form_is_refused_not_rounded():
    with pytest.raises(msgspec.ValidationError):
        parse_trades(BODY.replace(b"1688669597.8277369", b"1.6886695978277369e9"))


def test_answers_needing_escapes_are_written_escaped_like_singer_sdk():
    body = BODY.replace(b'"m","",', b'"m","say \\"hi\\" \\u00e9",')
    page = parse_trades(body)
    assert not page.plain
    text = TradeLines("kraken_trades", {"pair": "XBTUSD"}).page(page.rows, plain=page.plain)
    first = text.splitlines()[0]
    record = json.loads(first)["record"]
    assert record["misc"] == 'say "hi" é'
    assert '"misc":"say \\"hi\\" \\u00e9"' in first  # ASCII escapes, as the SDK writes them
