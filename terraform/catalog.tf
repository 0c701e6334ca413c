# Glue catalog and Athena. Partition projection computes partitions from table properties, so
# Athena needs no crawler and no MSCK REPAIR: a new symbol or day is queryable as soon as the
# target writes it (a new symbol needs a shard first, which adds it to the enum below).

locals {
  glue_database = replace(var.name_prefix, "-", "_")
  lake_location = "s3://${aws_s3_bucket.data.bucket}/${local.lake_prefix}"

  # trades_unified.exchange as the target writes it (exchange=<E> in the path).
  exchange_partition_value = {
    coinbase  = "COINBASE"
    binance   = "BINANCE"
    binanceus = "BINANCEUS"
    kraken    = "KRAKEN"
  }
  projected_exchanges = distinct([for s in var.shards : local.exchange_partition_value[s.exchange]])
  # Built from the same variable as the shards: every ingested symbol is queryable, and only those.
  projected_symbols = distinct(flatten([for s in var.shards : s.products]))

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
  description = "SchemaHub: trades_unified and the raw trade streams"
}

# Columns must equal schemahub_core.schema.UNIFIED_SCHEMA minus the partition keys, in order,
# with Arrow types mapped to Glue types; tests/test_terraform.py fails if they drift apart.
resource "aws_glue_catalog_table" "trades_unified" {
  name          = "trades_unified"
  database_name = aws_glue_catalog_database.main.name
  description   = "One row per trade from every exchange, deduplicated (exactly once)"
  table_type    = "EXTERNAL_TABLE"

  parameters = {
    EXTERNAL                        = "TRUE"
    classification                  = "parquet"
    "parquet.compression"           = "ZSTD"
    "projection.enabled"            = "true"
    "projection.exchange.type"      = "enum"
    "projection.exchange.values"    = join(",", local.projected_exchanges)
    "projection.symbol.type"        = "enum"
    "projection.symbol.values"      = join(",", local.projected_symbols)
    "projection.date.type"          = "date"
    "projection.date.format"        = "yyyy-MM-dd"
    "projection.date.range"         = "${var.projection_start_date},NOW"
    "projection.date.interval"      = "1"
    "projection.date.interval.unit" = "DAYS"
    "storage.location.template"     = "${local.lake_location}/unified/trades_unified/exchange=$${exchange}/symbol=$${symbol}/date=$${date}"
  }

  partition_keys {
    name    = "exchange"
    type    = "string"
    comment = "COINBASE, BINANCE, BINANCEUS"
  }
  partition_keys {
    name    = "symbol"
    type    = "string"
    comment = "the exchange's own symbol: BTC-USD, BTCUSDT"
  }
  partition_keys {
    # A string in yyyy-MM-dd, the form Athena's date projection documents: WHERE date >= '2025-01-01'.
    name    = "date"
    type    = "string"
    comment = "UTC date of trade_ts, yyyy-MM-dd"
  }

  storage_descriptor {
    location      = "${local.lake_location}/unified/trades_unified/"
    input_format  = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
    output_format = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"

    ser_de_info {
      serialization_library = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    }

    columns {
      name    = "base_asset"
      type    = "string"
      comment = "BTC"
    }
    columns {
      name    = "quote_asset"
      type    = "string"
      comment = "USD, USDT"
    }
    columns {
      name    = "trade_id"
      type    = "string"
      comment = "the exchange's trade id"
    }
    columns {
      name    = "side"
      type    = "string"
      comment = "taker side: BUY or SELL"
    }
    columns {
      name = "price"
      type = "double"
    }
    columns {
      name    = "quantity"
      type    = "double"
      comment = "in base asset"
    }
    columns {
      name    = "trade_ts"
      type    = "timestamp"
      comment = "when the trade executed (UTC)"
    }
    columns {
      name    = "ingest_ts"
      type    = "timestamp"
      comment = "when the row was written (UTC)"
    }
  }
}

resource "aws_glue_catalog_table" "raw" {
  for_each = local.raw_streams

  name          = "raw_${each.key}"
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
