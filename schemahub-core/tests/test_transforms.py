"""Column transforms: checked against Python's own datetime/float, and every rejection path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from schemahub_core.transforms import (
    OUTPUT_TYPES,
    TRANSFORMS,
    TransformError,
    from_decimal_seconds,
    from_ms,
    from_us,
    invert_side,
    iso8601,
    side_from_b_s,
    side_from_is_buyer_maker,
    to_double,
    to_string,
    upper,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
UTC_TS = pa.timestamp("us", tz="UTC")
PROPERTY = settings(max_examples=300, deadline=None)

utc_datetimes = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2099, 12, 31, 23, 59, 59, 999999)
)
# Offsets allowed by RFC 3339 (and by datetime): strictly inside ±24 h, whole minutes.
offset_minutes = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1)


def _epoch_us(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


def _rfc3339(utc: datetime, digits: int, offset: int | None) -> str:
    """Render a UTC instant with `digits` fractional digits (trailing zeros trimmed)."""
    fraction = f"{utc.microsecond:06d}"[:digits].rstrip("0")
    local = utc if offset is None else utc + timedelta(minutes=offset)
    text = local.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "")
    if offset is None:
        return text + "Z"
    sign = "+" if offset >= 0 else "-"
    return text + f"{sign}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}"


@PROPERTY
@given(
    utc=utc_datetimes,
    digits=st.integers(min_value=0, max_value=6),
    offset=st.none() | offset_minutes,
)
def test_iso8601_agrees_with_datetime_fromisoformat(utc, digits, offset):
    text = _rfc3339(utc, digits, offset)
    expected = datetime.fromisoformat(text)  # Python 3.11 reads Z, offsets and 1-6 digits
    result = iso8601(pa.array([text, text]))
    assert result.type == UTC_TS
    assert result[0].as_py() == expected
    assert result.cast(pa.int64())[1].as_py() == _epoch_us(expected)


@PROPERTY
@given(moments=st.lists(utc_datetimes, min_size=1, max_size=50))
def test_from_us_agrees_with_datetime(moments):
    micros = [_epoch_us(m.replace(tzinfo=UTC)) for m in moments]
    result = from_us(pa.array(micros, pa.int64()))
    assert result.type == UTC_TS
    assert result.to_pylist() == [m.replace(tzinfo=UTC) for m in moments]


@PROPERTY
@given(moments=st.lists(utc_datetimes, min_size=1, max_size=50))
def test_from_ms_agrees_with_datetime(moments):
    millis = [_epoch_us(m.replace(tzinfo=UTC)) // 1000 for m in moments]
    result = from_ms(pa.array(millis, pa.int64()))
    assert result.type == UTC_TS
    expected = [EPOCH + timedelta(milliseconds=ms) for ms in millis]
    assert result.to_pylist() == expected


@PROPERTY
@given(
    st.lists(
        st.tuples(st.integers(0, 10**12), st.text("0123456789", max_size=12)),
        min_size=1,
        max_size=30,
    )
)
def test_to_double_equals_python_float_of_the_decimal_string(parts):
    texts = [f"{whole}.{frac}" if frac else str(whole) for whole, frac in parts]
    assert to_double(pa.array(texts)).to_pylist() == [float(t) for t in texts]


def test_iso8601_examples_from_the_coinbase_api():
    texts = [
        "2026-06-19T16:43:33.739704Z",
        "2024-01-01T00:00:55.41Z",
        "2024-01-01T00:00:55Z",
        "2024-01-01t00:00:55z",  # RFC 3339 allows lower-case t and z
        "2024-01-01T01:30:55.5+01:30",
        "2023-12-31T19:00:55-05:00",
    ]
    assert iso8601(pa.array(texts)).to_pylist() == [
        datetime(2026, 6, 19, 16, 43, 33, 739704, tzinfo=UTC),
        datetime(2024, 1, 1, 0, 0, 55, 410000, tzinfo=UTC),
        datetime(2024, 1, 1, 0, 0, 55, tzinfo=UTC),
        datetime(2024, 1, 1, 0, 0, 55, tzinfo=UTC),
        datetime(2024, 1, 1, 0, 0, 55, 500000, tzinfo=UTC),
        datetime(2024, 1, 1, 0, 0, 55, tzinfo=UTC),
    ]


@pytest.mark.parametrize(
    "bad",
    [
        "2024-01-01T00:00:55.1234567Z",  # 7 fractional digits would be silently truncated
        "2024-01-01T00:00:55",  # no offset: which zone?
        "2024-01-01T00:00:55.Z",
        "2024-01-01 00:00:55Z",
        "2024-01-01T00:00Z",
        "2024-01-01T00:00:55+0200",
        "2024-01-01T00:00:55+02",
        "2024-01-01T00:00:55+24:00",
        "2024-01-01",
        "",
        " 2024-01-01T00:00:55Z",
    ],
)
def test_iso8601_rejects_what_is_not_rfc3339(bad):
    values = pa.array(["2024-01-01T00:00:55Z", bad])
    with pytest.raises(TransformError) as info:
        iso8601(values, column="time")
    message = str(info.value)
    assert "'iso8601'" in message
    assert "'time'" in message
    assert "row 1" in message
    assert repr(bad) in message
    assert (info.value.row, info.value.value) == (1, bad)


@pytest.mark.parametrize(
    "bad", ["2024-13-01T00:00:00Z", "2023-02-29T00:00:00Z", "2024-01-01T24:00:00Z"]
)
def test_iso8601_rejects_impossible_fields_at_the_exact_row_across_chunks(bad):
    good = "2024-02-29T23:59:59.999999Z"
    values = pa.chunked_array([[good] * 5, [good] * 6 + [bad, good]])
    with pytest.raises(TransformError, match=r"at row 11: value .* impossible") as info:
        iso8601(values, column="time")
    assert info.value.value == bad


def test_to_double_rejects_non_numbers_and_non_finite_values_with_their_row():
    for bad in ["abc", "", "1.2.3", "nan", "inf", "-Infinity", "0x10"]:
        with pytest.raises(TransformError, match=rf"'to_double'.*'size' at row 2: value {bad!r}"):
            to_double(pa.array(["1.5", "2", bad]), column="size")


def test_to_double_accepts_numbers_already_parsed():
    assert to_double(pa.array([1, 2], pa.int64())).to_pylist() == [1.0, 2.0]


def test_null_values_are_rejected_by_every_transform_with_their_row():
    samples = {
        "to_double": ["1.5", None],
        "to_string": [7, None],
        "iso8601": ["2024-01-01T00:00:00Z", None],
        "from_ms": [1, None],
        "from_us": [1, None],
        "upper": ["a", None],
        "invert_side": ["buy", None],
        "side_from_is_buyer_maker": [True, None],
        "from_decimal_seconds": ["1.5", None],
        "side_from_b_s": ["b", None],
    }
    assert set(samples) == set(TRANSFORMS)
    for name, values in samples.items():
        with pytest.raises(TransformError, match=rf"{name}.*'col' at row 1: value null"):
            TRANSFORMS[name](pa.array(values), column="col")


@pytest.mark.parametrize(
    ("name", "values"),
    [
        ("to_double", [True]),
        ("to_string", [1.5]),
        ("iso8601", [1_700_000_000]),
        ("from_ms", ["1700000000000"]),
        ("from_us", [1.7e15]),
        ("upper", [1]),
        ("invert_side", [True]),
        ("side_from_is_buyer_maker", ["true"]),
        ("from_decimal_seconds", [1688669597.8277369]),
        ("side_from_b_s", [True]),
    ],
)
def test_wrong_arrow_type_names_the_type_and_what_the_transform_takes(name, values):
    array = pa.array(values)
    with pytest.raises(TransformError, match=rf"'{name}'.*'col'.*{array.type}, but {name} takes"):
        TRANSFORMS[name](array, column="col")


def test_epoch_overflow_is_reported_not_wrapped():
    with pytest.raises(TransformError, match=r"'from_ms'.*row 1.*overflows"):
        from_ms(pa.array([0, 2**62], pa.int64()), column="T")


def test_from_us_keeps_microseconds_of_binance_time():
    assert from_us(pa.array([1499865549590123])).to_pylist() == [
        datetime(2017, 7, 12, 13, 19, 9, 590123, tzinfo=UTC)
    ]


def test_invert_side_turns_the_coinbase_maker_side_into_the_taker_side():
    result = invert_side(pa.array(["buy", "sell", "BUY", "Sell"]))
    assert result.to_pylist() == ["SELL", "BUY", "SELL", "BUY"]


def test_invert_side_rejects_anything_but_buy_or_sell():
    with pytest.raises(TransformError, match=r"'side' at row 2: value 'hold'.*allowed: 'buy'"):
        invert_side(pa.chunked_array([["buy"], ["sell", "hold"]]), column="side")


def test_side_from_is_buyer_maker_true_means_the_taker_sold():
    assert side_from_is_buyer_maker(pa.array([True, False])).to_pylist() == ["SELL", "BUY"]


def test_to_string_renders_integer_ids_and_keeps_strings():
    assert to_string(pa.array([1040406590, 2**53 + 1])).to_pylist() == [
        "1040406590",
        "9007199254740993",
    ]
    strings = pa.array(["abc"])
    assert to_string(strings) is strings


def test_upper_is_unicode_aware():
    assert upper(pa.array(["binanceus", "café"])).to_pylist() == ["BINANCEUS", "CAFÉ"]


def test_timestamp_results_are_utc_even_for_offset_input():
    result = iso8601(pa.array(["2024-01-01T02:00:00+02:00"]))
    assert result.type.tz == "UTC"
    assert result[0].as_py() == datetime(2024, 1, 1, tzinfo=UTC)


def test_declared_output_types_are_what_each_transform_returns():
    samples = {
        "to_double": ["1.5"],
        "to_string": [7],
        "iso8601": ["2024-01-01T00:00:00Z"],
        "from_ms": [1],
        "from_us": [1],
        "upper": ["a"],
        "invert_side": ["buy"],
        "side_from_is_buyer_maker": [True],
        "from_decimal_seconds": ["1.5"],
        "side_from_b_s": ["s"],
    }
    assert set(OUTPUT_TYPES) == set(TRANSFORMS) == set(samples)
    for name, values in samples.items():
        assert TRANSFORMS[name](pa.array(values)).type == OUTPUT_TYPES[name], name


def test_an_all_null_column_is_reported_as_missing_values_not_as_a_type_problem():
    for transform in TRANSFORMS.values():
        with pytest.raises(TransformError, match=r"at row 0: value null .*lacks this field"):
            transform(pa.nulls(3), column="price")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1688669597.8277369", datetime(2023, 7, 6, 18, 53, 17, 827736, tzinfo=UTC)),
        ("1688669597.9999999", datetime(2023, 7, 6, 18, 53, 17, 999999, tzinfo=UTC)),
        ("1688687999.9999999", datetime(2023, 7, 6, 23, 59, 59, 999999, tzinfo=UTC)),
        ("1688669597.0000009", datetime(2023, 7, 6, 18, 53, 17, 0, tzinfo=UTC)),
        ("1688669597.5", datetime(2023, 7, 6, 18, 53, 17, 500000, tzinfo=UTC)),
        ("1688669597.000001", datetime(2023, 7, 6, 18, 53, 17, 1, tzinfo=UTC)),
        ("1688669597.0", datetime(2023, 7, 6, 18, 53, 17, tzinfo=UTC)),
        ("1688669597", datetime(2023, 7, 6, 18, 53, 17, tzinfo=UTC)),
        ("1688669597.", datetime(2023, 7, 6, 18, 53, 17, tzinfo=UTC)),
    ],
)
def test_from_decimal_seconds_truncates_kraken_time_to_the_microsecond(text, expected):
    # Truncation: .9999999 stays in its second (and day) instead of rounding into the next.
    assert from_decimal_seconds(pa.array([text])).to_pylist() == [expected]


@pytest.mark.parametrize("bad", ["1.6886695978277369E9", "-1688669597.5", " 1688669597", "1,5"])
def test_from_decimal_seconds_rejects_other_number_forms_with_their_row(bad):
    with pytest.raises(TransformError, match=r"'time' at row 1.*digits with an optional fraction"):
        from_decimal_seconds(pa.array(["1.5", bad]), column="time")


def test_side_from_b_s_maps_the_kraken_taker_side():
    assert side_from_b_s(pa.array(["b", "s"])).to_pylist() == ["BUY", "SELL"]
    with pytest.raises(TransformError, match=r"'side' at row 0: value 'buy'"):
        side_from_b_s(pa.array(["buy"]), column="side")
