# Glue catalog and Athena. trades_unified is an Apache Iceberg table that the target creates
# in this database at its first commit (pyiceberg's Glue catalog: table_type ICEBERG and the
# current metadata_location, which Athena engine 3 reads); terraform declares only the
# database, the raw JSONL tables and the workgroup (see README.md, docs/decisions.md).

locals {
  # The target's Iceberg namespace (schemahub_core.iceberg.NAMESPACE): fixed, not per prefix.
  glue_database = "schemahub"
  lake_location = "s3://${aws_s3_bucket.data.bucket}/${local.lake_prefix}"
  # The target's iceberg_catalog in prod (meltano.yml) and `schemahub check`'s, as JSON.
  iceberg_catalog_json = jsonencode({ type = "glue", "glue.region" = var.aws_region })

  # Raw streams (raw/<stream>/ingest_date=YYYY-MM-DD/*.jsonl.gz): the records exactly as the
  # taps emit them, plus the target's _sdc_* timestamps. The JSON SerDe matches names
  # case-insensitively, so Binance's quoteQty lands in quoteqty.
  raw_streams = {
    coinbase_trades = [
      { name = "trade_id", type = "bigint" },
      { name = "product_id", type = "string" },
      { name = "price", type = "string" },
      { name = "size", type = "string" },
      { name = "side", type = "string" },
      { name = "time", type = "string" },
      { name = "base_asset", type = "string" },
      { name = "quote_asset", type = "string" },
      { name = "_sdc_extracted_at", type = "string" },
      { name = "_sdc_received_at", type = "string" },
    ]
    binance_trades = [
      { name = "id", type = "bigint" },
      { name = "symbol", type = "string" },
      { name = "exchange", type = "string" },
      { name = "price", type = "string" },
      { name = "qty", type = "string" },
      { name = "quoteqty", type = "string" },
      { name = "time", type = "bigint" },
      { name = "isbuyermaker", type = "boolean" },
      { name = "isbestmatch", type = "boolean" },
      { name = "base_asset", type = "string" },
      { name = "quote_asset", type = "string" },
      { name = "_sdc_extracted_at", type = "string" },
      { name = "_sdc_received_at", type = "string" },
    ]
    # Kraken's `time` is the text of its 7-decimal number of seconds (a double loses digits).
    kraken_trades = [
      { name = "trade_id", type = "bigint" },
      { name = "pair", type = "string" },
      { name = "exchange", type = "string" },
      { name = "price", type = "string" },
      { name = "volume", type = "string" },
      { name = "time", type = "string" },
      { name = "side", type = "string" },
      { name = "ordertype", type = "string" },
      { name = "misc", type = "string" },
      { name = "base_asset", type = "string" },
      { name = "quote_asset", type = "string" },
      { name = "_sdc_extracted_at", type = "string" },
      { name = "_sdc_received_at", type = "string" },
    ]
  }
}

resource "aws_glue_catalog_database" "main" {
  name        = local.glue_database
  description = "SchemaHub: trades_unified (Iceberg, created by the target) and the raw trade streams"
}

resource "aws_glue_catalog_table" "raw" {
  for_each = local.raw_streams

  # raw_<stream> is the name of the optional Iceberg raw tables (iceberg_raw_tables).
  name          = "raw_jsonl_${each.key}"
  database_name = aws_glue_catalog_database.main.name
  description   = "Raw ${each.key} records as received (audit trail, at least once)"
  table_type    = "EXTERNAL_TABLE"

  parameters = {
    EXTERNAL                               = "TRUE"
    classification                         = "json"
    "projection.enabled"                   = "true"
    "projection.ingest_date.type"          = "date"
    "projection.ingest_date.format"        = "yyyy-MM-dd"
    "projection.ingest_date.range"         = "${var.projection_start_date},NOW"
    "projection.ingest_date.interval"      = "1"
    "projection.ingest_date.interval.unit" = "DAYS"
    "storage.location.template"            = "${local.lake_location}/raw/${each.key}/ingest_date=$${ingest_date}"
  }

  partition_keys {
    name    = "ingest_date"
    type    = "string"
    comment = "UTC date the target received the record, yyyy-MM-dd"
  }

  storage_descriptor {
    location      = "${local.lake_location}/raw/${each.key}/"
    input_format  = "org.apache.hadoop.mapred.TextInputFormat"
    output_format = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"

    ser_de_info {
      serialization_library = "org.openx.data.jsonserde.JsonSerDe"
      parameters            = {
        "ignore.malformed.json" = "false"
        "case.insensitive"      = "true"
      }
    }

    dynamic "columns" {
      for_each = each.value
      content {
        name = columns.value.name
        type = columns.value.type
      }
    }
  }
}

resource "aws_athena_workgroup" "main" {
  name          = var.name_prefix
  description   = "SchemaHub queries over trades_unified; results encrypted with the project key"
  force_destroy = false

  configuration {
    enforce_workgroup_configuration    = true
    publish_cloudwatch_metrics_enabled = true
    bytes_scanned_cutoff_per_query     = var.athena_bytes_scanned_cutoff_per_query

    engine_version {
      selected_engine_version = "Athena engine version 3"
    }

    result_configuration {
      output_location       = "s3://${aws_s3_bucket.data.bucket}/${local.athena_prefix}/"
      expected_bucket_owner = local.account_id

      encryption_configuration {
        encryption_option = "SSE_KMS"
        kms_key_arn       = aws_kms_key.main.arn
      }
    }
  }
}
