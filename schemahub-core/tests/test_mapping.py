"""The mapping engine: the two root mappings on realistic records, and every error path."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
import yaml
from schemahub_core.mapping import (
    MappingError,
    SourceDataError,
    load_mapping,
    load_mappings,
    packaged_mappings_dir,
)
from schemahub_core.schema import UNIFIED_SCHEMA

REPO_ROOT = Path(__file__).resolve().parents[2]
INGEST = datetime(2026, 6, 19, 17, 0, tzinfo=UTC)

COINBASE_RECORDS = [  # shaped like GET /products/BTC-USD/trades plus the tap's fields
    {
        "trade_id": 1040406590,
        "side": "buy",
        "size": "0.00003219",
        "price": "63212.97000000",
        "time": "2026-06-19T16:43:33.739704Z",
        "product_id": "BTC-USD",
        "base_asset": "BTC",
        "quote_asset": "USD",
    },
    {
        "trade_id": 1040406591,
        "side": "sell",
        "size": "1.5",
        "price": "63213.00000000",
        "time": "2024-01-01T00:00:55.41Z",
        "product_id": "BTC-USD",
        "base_asset": "BTC",
        "quote_asset": "USD",
    },
]
BINANCE_RECORDS = [  # shaped like /api/v3/historicalTrades with X-MBX-TIME-UNIT: MICROSECOND
    {
        "id": 28457,
        "price": "4.00000100",
        "qty": "12.00000000",
        "quoteQty": "48.000012",
        "time": 1499865549590123,
        "isBuyerMaker": True,
        "isBestMatch": True,
        "symbol": "BNBBTC",
        "base_asset": "BNB",
        "quote_asset": "BTC",
        "exchange": "BINANCE",
    },
    {
        "id": 28458,
        "price": "4.00000200",
        "qty": "0.50000000",
        "quoteQty": "2.000001",
        "time": 1735689600000001,
        "isBuyerMaker": False,
        "isBestMatch": True,
        "symbol": "BNBBTC",
        "base_asset": "BNB",
        "quote_asset": "BTC",
        "exchange": "BINANCEUS",
    },
]
VALID = yaml.safe_load((REPO_ROOT / "mappings" / "coinbase_trades.yaml").read_text())


@pytest.fixture(scope="module")
def mappings():
    return load_mappings()


def write_mapping(directory: Path, document, name: str = "m.yaml") -> Path:
    path = directory / name
    path.write_text(document if isinstance(document, str) else yaml.safe_dump(document))
    return path


def test_coinbase_trades_map_to_the_taker_side_and_exact_values(mappings):
    table = mappings["coinbase_trades"].apply(pa.Table.from_pylist(COINBASE_RECORDS), INGEST)
    assert table.schema.equals(UNIFIED_SCHEMA)
    assert table.to_pylist() == [
        {
            "exchange": "COINBASE",
            "symbol": "BTC-USD",
            "base_asset": "BTC",
            "quote_asset": "USD",
            "trade_id": "1040406590",
            "side": "SELL",  # maker bought: a seller hit the bid
            "price": 63212.97,
            "quantity": 0.00003219,
            "trade_ts": datetime(2026, 6, 19, 16, 43, 33, 739704, tzinfo=UTC),
            "ingest_ts": INGEST,
        },
        {
            "exchange": "COINBASE",
            "symbol": "BTC-USD",
            "base_asset": "BTC",
            "quote_asset": "USD",
            "trade_id": "1040406591",
            "side": "BUY",  # maker sold: a buyer lifted the offer
            "price": 63213.0,
            "quantity": 1.5,
            "trade_ts": datetime(2024, 1, 1, 0, 0, 55, 410000, tzinfo=UTC),
            "ingest_ts": INGEST,
        },
    ]


def test_binance_trades_map_is_buyer_maker_and_microsecond_time(mappings):
    table = mappings["binance_trades"].apply(pa.Table.from_pylist(BINANCE_RECORDS), INGEST)
    assert table.schema.equals(UNIFIED_SCHEMA)
    rows = table.to_pylist()
    assert [(r["exchange"], r["trade_id"], r["side"]) for r in rows] == [
        ("BINANCE", "28457", "SELL"),  # isBuyerMaker: the taker sold
        ("BINANCEUS", "28458", "BUY"),
    ]
    assert [(r["price"], r["quantity"]) for r in rows] == [(4.000001, 12.0), (4.000002, 0.5)]
    assert [r["trade_ts"] for r in rows] == [
        datetime(2017, 7, 12, 13, 19, 9, 590123, tzinfo=UTC),
        datetime(2025, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
    ]
    assert {(r["symbol"], r["base_asset"], r["quote_asset"]) for r in rows} == {
        ("BNBBTC", "BNB", "BTC")
    }


def test_dictionary_columns_map_as_the_values_they_stand_for(mappings):
    """The taps' batch files hold constant columns as dictionaries (constant_columns)."""
    plain = pa.Table.from_pylist(BINANCE_RECORDS)
    encoded = plain
    for name in ("symbol", "base_asset", "quote_asset", "exchange"):
        index = plain.schema.get_field_index(name)
        encoded = encoded.set_column(index, name, pc.dictionary_encode(plain.column(name)))
    mapping = mappings["binance_trades"]
    assert mapping.apply(encoded, INGEST).equals(mapping.apply(plain, INGEST))


KRAKEN_RECORDS = [  # shaped like GET /0/public/Trades rows plus the tap's fields
    {
        "price": "30243.40000",
        "volume": "0.34507674",
        "time": "1688669597.8277369",
        "side": "b",
        "ordertype": "m",
        "misc": "",
        "trade_id": 61044952,
        "pair": "XBTUSD",
        "base_asset": "BTC",
        "quote_asset": "USD",
        "exchange": "KRAKEN",
    },
    {
        "price": "30243.50000",
        "volume": "1.00000000",
        "time": "1688687999.9999999",
        "side": "s",
        "ordertype": "l",
        "misc": "",
        "trade_id": 61044956,
        "pair": "XBTUSD",
        "base_asset": "BTC",
        "quote_asset": "USD",
        "exchange": "KRAKEN",
    },
]


def test_kraken_trades_map_the_taker_side_and_truncate_time_to_the_microsecond(mappings):
    table = mappings["kraken_trades"].apply(pa.Table.from_pylist(KRAKEN_RECORDS), INGEST)
    assert table.schema.equals(UNIFIED_SCHEMA)
    rows = table.to_pylist()
    assert [(r["exchange"], r["symbol"], r["trade_id"], r["side"]) for r in rows] == [
        ("KRAKEN", "XBTUSD", "61044952", "BUY"),  # b: the taker bought
        ("KRAKEN", "XBTUSD", "61044956", "SELL"),
    ]
    assert [(r["price"], r["quantity"]) for r in rows] == [(30243.4, 0.34507674), (30243.5, 1.0)]
    assert [r["trade_ts"] for r in rows] == [
        datetime(2023, 7, 6, 18, 53, 17, 827736, tzinfo=UTC),
        datetime(2023, 7, 6, 23, 59, 59, 999999, tzinfo=UTC),  # not rounded into July 7
    ]


def test_source_columns_are_what_each_mapping_reads(mappings):
    assert set(mappings["coinbase_trades"].source_columns) == {
        "product_id",
        "base_asset",
        "quote_asset",
        "trade_id",
        "side",
        "price",
        "size",
        "time",
    }
    assert "quoteQty" not in mappings["binance_trades"].source_columns
    assert "isBuyerMaker" in mappings["binance_trades"].source_columns


def test_ingest_ts_is_stored_as_the_utc_instant_given_or_now(mappings):
    source = pa.Table.from_pylist(COINBASE_RECORDS)
    paris = datetime(2026, 6, 19, 19, 0, tzinfo=timezone(timedelta(hours=2)))
    stamped = mappings["coinbase_trades"].apply(source, paris)
    assert stamped["ingest_ts"].to_pylist() == [INGEST, INGEST]
    before = datetime.now(UTC)
    default = mappings["coinbase_trades"].apply(source)["ingest_ts"][0].as_py()
    assert before <= default <= datetime.now(UTC)
    with pytest.raises(ValueError, match="has no time zone"):
        mappings["coinbase_trades"].apply(source, datetime(2026, 1, 1))


def test_an_empty_batch_maps_to_an_empty_unified_table(mappings):
    empty = mappings["binance_trades"].apply(pa.Table.from_pylist([]), INGEST)
    assert empty.num_rows == 0
    assert empty.schema.equals(UNIFIED_SCHEMA)


def test_records_lacking_a_mapped_field_name_stream_field_and_fields_present(mappings):
    records = pa.Table.from_pylist(COINBASE_RECORDS).drop_columns(["size"])
    with pytest.raises(SourceDataError) as info:
        mappings["coinbase_trades"].apply(records, INGEST)
    message = str(info.value)
    assert "'coinbase_trades'" in message
    assert "['size']" in message
    assert "fields present: ['base_asset', 'price', 'product_id'" in message


def test_a_bad_value_names_stream_unified_column_transform_row_and_value(mappings):
    records = copy.deepcopy(COINBASE_RECORDS)
    records[1]["side"] = "hold"
    with pytest.raises(SourceDataError) as info:
        mappings["coinbase_trades"].apply(pa.Table.from_pylist(records), INGEST)
    message = str(info.value)
    for part in ["'coinbase_trades'", "column 'side'", "'invert_side'", "row 1", "'hold'"]:
        assert part in message
    assert (info.value.stream, info.value.column, info.value.row) == ("coinbase_trades", "side", 1)


def test_a_null_in_an_untransformed_field_is_rejected_with_its_row(mappings):
    records = copy.deepcopy(BINANCE_RECORDS)
    records[1]["quote_asset"] = None
    with pytest.raises(
        SourceDataError, match=r"'quote_asset' is null at row 1; .*non-null"
    ) as info:
        mappings["binance_trades"].apply(pa.Table.from_pylist(records), INGEST)
    assert info.value.row == 1


def test_a_missing_transform_is_caught_with_a_hint_at_the_right_one(tmp_path):
    document = copy.deepcopy(VALID)
    document["columns"]["price"] = {"from": "price"}  # decimal string, no to_double
    mapping = load_mapping(write_mapping(tmp_path, document))
    with pytest.raises(SourceDataError, match=r"'price' is string .* is double.*'to_double'"):
        mapping.apply(pa.Table.from_pylist(COINBASE_RECORDS), INGEST)


def test_transform_lists_run_in_order_and_large_strings_are_accepted(tmp_path):
    document = copy.deepcopy(VALID)
    document["columns"]["symbol"] = {"from": "trade_id", "transform": ["to_string", "upper"]}
    document["columns"]["base_asset"] = {"from": "base_asset", "transform": ["upper"]}
    mapping = load_mapping(write_mapping(tmp_path, document))
    records = pa.Table.from_pylist(COINBASE_RECORDS)
    records = records.set_column(
        records.schema.get_field_index("base_asset"),
        "base_asset",
        pa.array(["btc", "Btc"], pa.large_string()),
    )
    table = mapping.apply(records, INGEST)
    assert table.schema.equals(UNIFIED_SCHEMA)
    assert table["symbol"].to_pylist() == ["1040406590", "1040406591"]
    assert table["base_asset"].to_pylist() == ["BTC", "BTC"]


def test_packaged_mappings_in_a_source_checkout_are_the_root_files():
    assert packaged_mappings_dir() == REPO_ROOT / "mappings"
    assert sorted(load_mappings()) == ["binance_trades", "coinbase_trades", "kraken_trades"]


def test_extra_dirs_override_per_source_stream_and_add_new_streams(tmp_path):
    override = copy.deepcopy(VALID)
    override["columns"]["exchange"] = {"constant": "COINBASE_SANDBOX"}
    write_mapping(tmp_path, override, "coinbase_override.yaml")
    extra = copy.deepcopy(VALID)
    extra["source_stream"] = "coinbase_trades_v2"
    write_mapping(tmp_path, extra, "v2.yml")
    mappings = load_mappings(extra_dirs=[tmp_path])
    assert sorted(mappings) == [
        "binance_trades",
        "coinbase_trades",
        "coinbase_trades_v2",
        "kraken_trades",
    ]
    assert mappings["coinbase_trades"].path == tmp_path / "coinbase_override.yaml"
    table = mappings["coinbase_trades"].apply(pa.Table.from_pylist(COINBASE_RECORDS), INGEST)
    assert set(table["exchange"].to_pylist()) == {"COINBASE_SANDBOX"}
    assert mappings["binance_trades"].path == REPO_ROOT / "mappings" / "binance_trades.yaml"


def test_two_files_for_one_stream_in_one_dir_are_refused(tmp_path):
    write_mapping(tmp_path, VALID, "a.yaml")
    write_mapping(tmp_path, VALID, "b.yaml")
    with pytest.raises(
        MappingError, match=r"b\.yaml: key 'source_stream'.*also mapped by .*a\.yaml"
    ):
        load_mappings(extra_dirs=[tmp_path])


def test_a_missing_extra_dir_is_an_error_not_silently_ignored(tmp_path):
    with pytest.raises(MappingError, match="nope: is not a directory"):
        load_mappings(extra_dirs=[tmp_path / "nope"])


def test_yaml_syntax_errors_report_the_line(tmp_path):
    path = write_mapping(tmp_path, "source_stream: x\ntarget_table: trades_unified\ncolumns: [\n")
    with pytest.raises(MappingError, match=r"m\.yaml: is not valid YAML at line 4"):
        load_mapping(path)


def test_an_unreadable_file_is_named(tmp_path):
    with pytest.raises(MappingError, match=r"absent\.yaml: cannot be read"):
        load_mapping(tmp_path / "absent.yaml")


def _mutated(change):
    document = copy.deepcopy(VALID)
    change(document)
    return document


INVALID_DOCUMENTS = [
    ("not a mapping", ["a", "list"], None, "must be a YAML mapping"),
    ("unknown top key", _mutated(lambda d: d.update(colums={})), "colums", "allowed: ['columns'"),
    ("no stream", _mutated(lambda d: d.pop("source_stream")), "source_stream", "is missing"),
    ("empty stream", _mutated(lambda d: d.update(source_stream="")), "source_stream", "non-empty"),
    (
        "wrong table",
        _mutated(lambda d: d.update(target_table="trades")),
        "target_table",
        "only allowed target table is 'trades_unified'",
    ),
    ("columns list", _mutated(lambda d: d.update(columns=[])), "columns", "must map unified"),
    (
        "ingest_ts",
        _mutated(lambda d: d["columns"].update(ingest_ts={"from": "time"})),
        "columns.ingest_ts",
        "filled by the engine",
    ),
    (
        "unknown column",
        _mutated(lambda d: d["columns"].update(volume={"from": "size"})),
        "columns.volume",
        "not a column of trades_unified; allowed: ['exchange', 'symbol'",
    ),
    (
        "missing column",
        _mutated(lambda d: d["columns"].pop("quantity")),
        "columns",
        "lacks unified column(s) ['quantity']",
    ),
    (
        "rule scalar",
        _mutated(lambda d: d["columns"].update(symbol="x")),
        "columns.symbol",
        "must be",
    ),
    (
        "unknown rule key",
        _mutated(lambda d: d["columns"]["symbol"].update(form="x")),
        "columns.symbol.form",
        "allowed: ['from', 'transform', 'constant']",
    ),
    (
        "from and constant",
        _mutated(lambda d: d["columns"]["symbol"].update(constant="BTC-USD")),
        "columns.symbol",
        "both `from` and `constant`",
    ),
    (
        "constant with transform",
        _mutated(lambda d: d["columns"].update(exchange={"constant": "x", "transform": "upper"})),
        "columns.exchange.transform",
        "only applies to `from`",
    ),
    (
        "neither",
        _mutated(lambda d: d["columns"].update(symbol={"transform": "upper"})),
        "columns.symbol",
        "needs `from",
    ),
    (
        "from not a name",
        _mutated(lambda d: d["columns"].update(symbol={"from": 3})),
        "columns.symbol.from",
        "must be a source field name",
    ),
    (
        "transform not a list",
        _mutated(lambda d: d["columns"]["side"].update(transform={"a": 1})),
        "columns.side.transform",
        "a transform name or a list",
    ),
    (
        "unknown transform",
        _mutated(lambda d: d["columns"]["side"].update(transform=["upper", "invert_sides"])),
        "columns.side.transform",
        "unknown transform 'invert_sides'; allowed: ['from_decimal_seconds', 'from_ms', "
        "'from_us', 'invert_side', 'iso8601', 'side_from_b_s', 'side_from_is_buyer_maker', "
        "'to_double', 'to_string', 'upper']",
    ),
    (
        "null constant",
        _mutated(lambda d: d["columns"].update(exchange={"constant": None})),
        "columns.exchange.constant",
        "is null",
    ),
    (
        "number for a string",
        _mutated(lambda d: d["columns"].update(exchange={"constant": 7})),
        "columns.exchange.constant",
        "7 does not fit string; allowed: a string",
    ),
    (
        "bool for a float",
        _mutated(lambda d: d["columns"].update(price={"constant": True})),
        "columns.price.constant",
        "does not fit double; allowed: a number",
    ),
    (
        "constant timestamp",
        _mutated(lambda d: d["columns"].update(trade_ts={"constant": "2024-01-01T00:00:00Z"})),
        "columns.trade_ts.constant",
        "allowed: no constant",
    ),
]


@pytest.mark.parametrize(
    ("document", "key", "problem"),
    [case[1:] for case in INVALID_DOCUMENTS],
    ids=[case[0] for case in INVALID_DOCUMENTS],
)
def test_invalid_mapping_files_name_file_key_problem_and_allowed(tmp_path, document, key, problem):
    path = write_mapping(tmp_path, document)
    with pytest.raises(MappingError) as info:
        load_mapping(path)
    message = str(info.value)
    assert message.startswith(f"mapping file {path}")
    assert info.value.key == key
    if key is not None:
        assert f"key {key!r}" in message
    assert problem in message


def test_a_numeric_constant_fills_a_float_column(tmp_path):
    document = _mutated(lambda d: d["columns"].update(quantity={"constant": 1}))
    table = load_mapping(write_mapping(tmp_path, document)).apply(
        pa.Table.from_pylist(COINBASE_RECORDS), INGEST
    )
    assert table["quantity"].to_pylist() == [1.0, 1.0]
    assert table.schema.equals(UNIFIED_SCHEMA)


def test_a_field_absent_from_every_record_is_reported_as_null_not_as_a_type(mappings):
    records = [{**r, "product_id": None} for r in COINBASE_RECORDS]
    table = pa.Table.from_pylist(records)
    assert table.schema.field("product_id").type == pa.null()
    with pytest.raises(SourceDataError, match=r"'product_id' is null at row 0"):
        mappings["coinbase_trades"].apply(table, INGEST)
