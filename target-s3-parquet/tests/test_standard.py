"""singer-sdk's standard target tests, plus the multiple-STATE test the SDK leaves disabled."""

from __future__ import annotations

import io
import json

import pytest
from singer_sdk.testing import get_target_test_class
from singer_sdk.testing.runners import TargetTestRunner
from target_s3_parquet.synthetic import coinbase_record, record_line, schema_line
from target_s3_parquet.target import TargetS3Parquet

# The SDK's factory takes one config for the whole class while this module loads; the
# `standard_output` fixture points it (same dict) at a folder of this session's temp dir.
CONFIG = {"output_uri": "unset: see the standard_output fixture"}

TestTargetS3ParquetStandard = get_target_test_class(TargetS3Parquet, config=CONFIG)


@pytest.fixture(scope="module", autouse=True)
def standard_output(tmp_path_factory):
    """The output folder of the standard tests, created when they run, not at import."""
    CONFIG["output_uri"] = str(tmp_path_factory.mktemp("standard"))


def test_a_state_is_relayed_after_each_commit_and_only_for_committed_data(tmp_path):
    """batch_size_rows=3: each commit relays the newest STATE seen before it, as a bare value.

    iceberg_commit_rows=3: a commit per batch (test_staging.py groups several).
    """
    lines = [schema_line("coinbase_trades")]
    for trade_id in range(1, 8):
        lines.append(record_line("coinbase_trades", coinbase_record("BTC-USD", trade_id)))
        lines.append(json.dumps({"type": "STATE", "value": {"last": trade_id}}))
    runner = TargetTestRunner(
        TargetS3Parquet,
        config={"output_uri": str(tmp_path), "batch_size_rows": 3, "iceberg_commit_rows": 3},
        input_io=io.StringIO("\n".join(lines) + "\n"),
    )
    runner.sync_all()
    # Commits happen on the 3rd and 6th record, before the STATE that follows each of them
    # arrives: so they relay 2 and 5; then 3 and 6 arrive with nothing queued and are relayed
    # at once; the final commit (record 7) relays 7.
    assert runner.state_messages == [{"last": n} for n in (2, 3, 5, 6, 7)]
    assert runner.stdout.splitlines() == [json.dumps({"last": n}) for n in (2, 3, 5, 6, 7)]
