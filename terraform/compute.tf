# ECS cluster and Fargate task definitions: one ingest task definition per shard (its job,
# products and Meltano state id suffix baked in, so a manual `aws ecs run-task` reproduces a
# scheduled run exactly) and one for the quality check.

locals {
  shards = { for s in var.shards : s.name => s }

  # Meltano job (meltano.yml) each kind of shard runs.
  shard_job = {
    coinbase  = "ingest-coinbase"
    binance   = "ingest-binance"
    binanceus = "ingest-binance"
    kraken    = "ingest-kraken"
  }

  # Tap settings per kind of shard, as Meltano environment variables (<PLUGIN>_<SETTING>).
  # The rate limits are per task: with one public IP per task each shard gets the exchange's
  # whole per-IP limit (README: how to divide them when egress is shared). Only integer and
  # string settings: Meltano 4.4 cannot write a `decimal` setting that came from the
  # environment (see meltano.yml), so weight_budget_fraction stays in meltano.yml.
  shard_tap_settings = {
    coinbase = tomap({
      TAP_COINBASE_MAX_REQUESTS_PER_SECOND = tostring(var.coinbase_max_requests_per_second)
    })
    binance = tomap({
      TAP_BINANCE_API_URL                 = "https://api.binance.com"
      TAP_BINANCE_WEIGHT_LIMIT_PER_MINUTE = tostring(var.binance_weight_limit_per_minute)
    })
    binanceus = tomap({
      TAP_BINANCE_API_URL                 = "https://api.binance.us"
      TAP_BINANCE_WEIGHT_LIMIT_PER_MINUTE = tostring(var.binanceus_weight_limit_per_minute)
    })
    # Kraken counts Trades calls per IP and per pair (about 1/s): the limit is per pair, so
    # a shard's pairs run in parallel and need no division between shards on one IP per task.
    kraken = tomap({
      TAP_KRAKEN_MAX_REQUESTS_PER_SECOND = "1"
    })
  }

  # Which setting carries the shard's products for each tap.
  shard_products_setting = {
    coinbase  = "TAP_COINBASE_PRODUCT_IDS"
    binance   = "TAP_BINANCE_SYMBOLS"
    binanceus = "TAP_BINANCE_SYMBOLS"
    kraken    = "TAP_KRAKEN_PAIRS"
  }

  common_environment = {
    MELTANO_ENVIRONMENT          = "prod"
    MELTANO_STATE_BACKEND_URI    = local.state_uri
    TARGET_S3_PARQUET_OUTPUT_URI = local.output_uri
    TARGET_S3_PARQUET_AWS_REGION = var.aws_region
    AWS_REGION                   = var.aws_region
    AWS_DEFAULT_REGION           = var.aws_region
  }

  shard_environment = {
    for name, s in local.shards : name => merge(
      local.common_environment,
      local.shard_tap_settings[s.exchange],
      {
        (local.shard_products_setting[s.exchange]) = jsonencode(s.products)
        # Each shard keeps its own bookmarks: state id <env>:<tap>-to-<target>:<shard name>.
        MELTANO_RUN_STATE_ID_SUFFIX = name
      },
    )
  }

  # The Meltano container of the ingest and backfill tasks; each adds its job and settings.
  meltano_container = {
    name      = "meltano"
    image     = local.image_uri
    essential = true
    # An init process forwards ECS's SIGTERM to Meltano and reaps the tap/target children.
    linuxParameters = { initProcessEnabled = true }
    stopTimeout     = 60
  }

  binance_api_key_secret = [{
    name      = "TAP_BINANCE_API_KEY"
    valueFrom = aws_secretsmanager_secret.binance_api_key.arn
  }]
}

resource "aws_ecs_cluster" "main" {
  name = var.name_prefix

  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

resource "aws_cloudwatch_log_group" "ingest" {
  # checkov:skip=CKV_AWS_338: retention is the log_retention_days variable (default 90): task logs are operational, the data itself is the audit trail
  name              = "/${var.name_prefix}/ingest"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_cloudwatch_log_group" "check" {
  # checkov:skip=CKV_AWS_338: retention is the log_retention_days variable (default 90): task logs are operational, the data itself is the audit trail
  name              = "/${var.name_prefix}/check"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_ecs_task_definition" "ingest" {
  # checkov:skip=CKV_AWS_336: Meltano writes its run config, logs and system database under .meltano/ beside the plugin virtualenvs installed at build time
  for_each = local.shards

  family                   = "${var.name_prefix}-ingest-${each.key}"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.ingest_cpu
  memory                   = var.ingest_memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.ingest_task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  container_definitions = jsonencode([merge(local.meltano_container, {
    # The image's ENTRYPOINT is meltano; this runs the shard's job.
    command     = ["run", local.shard_job[each.value.exchange]]
    environment = [for k, v in local.shard_environment[each.key] : { name = k, value = v }]
    secrets     = (
      var.binance_api_key_enabled && contains(["binance", "binanceus"], each.value.exchange)
      ? local.binance_api_key_secret : []
    )
    logConfiguration = {
      logDriver = "awslogs"
      options   = {
        awslogs-group         = aws_cloudwatch_log_group.ingest.name
        awslogs-region        = var.aws_region
        awslogs-stream-prefix = each.key
      }
    }
  })])
}

resource "aws_ecs_task_definition" "check" {
  # checkov:skip=CKV_AWS_336: DuckDB and Python need a writable temp directory inside the container
  family                   = "${var.name_prefix}-check"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.check_cpu
  memory                   = var.check_memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.check_task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  container_definitions = jsonencode([{
    name      = "schemahub-check"
    image     = local.image_uri
    essential = true
    # Same image, different program: the quality check instead of a Meltano job.
    entryPoint = ["schemahub"]
    command    = [
      "check",
      "--output-uri", local.output_uri,
      "--max-age", "${var.freshness_threshold_seconds}s",
      "--aws-region", var.aws_region,
      "--publish-cloudwatch", var.metric_namespace,
    ]
    environment = [
      { name = "AWS_REGION", value = var.aws_region },
      { name = "AWS_DEFAULT_REGION", value = var.aws_region },
      # The Glue catalog holding the Iceberg trades_unified, as meltano.yml's prod sets it.
      { name = "SCHEMAHUB_ICEBERG_CATALOG", value = local.iceberg_catalog_json },
    ]
    linuxParameters  = { initProcessEnabled = true }
    logConfiguration = {
      logDriver = "awslogs"
      options   = {
        awslogs-group         = aws_cloudwatch_log_group.check.name
        awslogs-region        = var.aws_region
        awslogs-stream-prefix = "check"
      }
    }
  }])
}
