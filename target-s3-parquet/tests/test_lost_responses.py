"""A write that succeeded but whose answer was lost is retried; the retry must not lose data.

On S3 a PUT can reach the bucket and its response still be lost (500, reset, timeout):
botocore then sends it again, and a conditional PUT (If-None-Match: *) answers 412 because the
first attempt created the object. These tests make that happen on a real moto server, through
a botocore hook on the target's own client, for each PUT of a commit.
"""

from __future__ import annotations

from urllib.parse import unquote

import pytest
from target_s3_parquet import storage as storage_module
from target_s3_parquet.storage import StorageError, open_storage
from target_s3_parquet.synthetic import trade_lines
from target_s3_parquet.testing import (
    assert_exactly_once,
    make_s3_output,
    read_unified,
    run_in_process,
    watermark,
)

BATCH = 100


class LoseFirstResponse:
    """Makes the first successful PutObject of a key containing `part` look failed to the
    client, so botocore retries a PUT that S3 has already stored (`needs-retry` hook)."""

    def __init__(self, part: str) -> None:
        self.part = part
        self.lost: list[str] = []

    def __call__(self, response, request_dict, **_kwargs):
        if self.lost or response is None or response[0].status_code != 200:
            return None  # let botocore's own retry policy decide
        key = unquote(request_dict["url"])
        if self.part not in key:
            return None
        self.lost.append(key)
        return 0  # retry at once, as after a connection reset


@pytest.fixture
def lose_first_response(monkeypatch):
    """Install a LoseFirstResponse on every S3 client the target builds in this test."""

    def install(part: str) -> LoseFirstResponse:
        fault = LoseFirstResponse(part)
        build = storage_module.s3_client

        def client_with_fault(config):
            client = build(config)
            client.meta.events.register_first("needs-retry.s3.PutObject", fault)
            return client

        monkeypatch.setattr(storage_module, "s3_client", client_with_fault)
        return fault

    return install


@pytest.mark.parametrize(
    "part",
    [
        pytest.param("/_commits/", id="commit-record"),
        pytest.param("/_staging/", id="staged-data-file"),
        pytest.param("/unified/", id="publish"),
    ],
)
def test_a_put_whose_response_was_lost_commits_its_batch_exactly_once(
    part, moto_endpoint, lose_first_response
):
    output = make_s3_output(moto_endpoint)
    config = {**output.config, "batch_size_rows": BATCH}
    fault = lose_first_response(part)
    states = run_in_process(
        config, trade_lines("binance_trades", "BTCUSDT", 1, BATCH, state_every=BATCH)
    )
    assert len(fault.lost) == 1, f"no PUT of {part} was answered with a lost response"
    # The STATE printed is a promise: every trade it covers is in the table, once.
    assert watermark(states[-1], "binance_trades") == BATCH
    assert_exactly_once(read_unified(output), {("BINANCE", "BTCUSDT"): range(1, BATCH + 1)})
    # A later run on the same symbol (replay + new trades) commits on top of that record.
    run_in_process(config, trade_lines("binance_trades", "BTCUSDT", 1, 3 * BATCH))
    assert_exactly_once(read_unified(output), {("BINANCE", "BTCUSDT"): range(1, 3 * BATCH + 1)})
    assert not output.keys("_staging")


def test_a_repeated_conditional_put_finds_its_own_object_but_not_another(storage_output):
    output = storage_output
    storage = open_storage(output.uri, output.config)
    assert storage.put("_commits/x/1.json", b'{"writer": "a"}', if_absent=True)
    assert storage.put("_commits/x/1.json", b'{"writer": "a"}', if_absent=True)
    assert not storage.put("_commits/x/1.json", b'{"writer": "b"}', if_absent=True)
    assert storage.get("_commits/x/1.json") == b'{"writer": "a"}'


def test_publishing_over_a_different_object_is_refused_and_overwrites_nothing(storage_output):
    output = storage_output
    storage = open_storage(output.uri, output.config)
    staged, final = "_staging/t/part.parquet", "unified/t/part.parquet"
    storage.put(staged, b"the committed rows")
    storage.put(final, b"something else")
    for data in (None, b"the committed rows"):
        with pytest.raises(StorageError, match="different content"):
            storage.publish(staged, final, data)
    assert storage.get(final) == b"something else"
    assert storage.get(staged) == b"the committed rows"
