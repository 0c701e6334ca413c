"""target-s3-parquet: Singer target writing a raw JSONL.gz layer and the unified Parquet table."""
