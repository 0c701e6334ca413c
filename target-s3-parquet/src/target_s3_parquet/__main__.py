"""`python -m target_s3_parquet`: the same CLI as the `target-s3-parquet` command."""

from target_s3_parquet.target import TargetS3Parquet

TargetS3Parquet.cli()
