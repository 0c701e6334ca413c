"""target-s3-parquet: Singer target writing a raw JSONL.gz layer and the unified Parquet table.

The modules sit in layers, top first; a module imports only modules of its own layer or of a
layer below it (checked by tests/test_layers.py). See docs/architecture.md.
"""

LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    # settings, sinks and STATE, the commit thread; entry points and test helpers
    ("wiring", ("__main__", "target", "worker", "migrate", "testing", "synthetic")),
    # `schemahub compact`, `rebuild`, `expire`: maintenance of the Iceberg trades_unified
    ("maintenance", ("compact", "rebuild", "expire", "maintenance")),
    # Singer lines read in blocks; RECORD lines cut by their layout or decoded in bulk
    ("input", ("reader", "input_blocks", "record_lines")),
    # per-sink pending records, batch size and age, "full"
    ("batching", ("batching",)),
    # one stream's batch: validate, map, stage for the tables (commits grouped when due)
    ("sink", ("sinks", "pipeline", "batch_commit", "staging")),
    # raw layer, trades_unified (Hive or Iceberg) and its commit protocol, storage
    (
        "table",
        (
            "tables",
            "iceberg_table",
            "iceberg_append",
            "iceberg_raw",
            "snapshot_expiry",
            "unified",
            "raw_layer",
            "ranges",
            "storage",
            "batch_source",
        ),
    ),
    # a batch of records as JSONL bytes, or a BATCH file; bulk parsing and validation
    ("records", ("records", "schema_rules", "batch_files")),
)
