variable "aws_region" {
  type        = string
  description = "AWS region to deploy into, e.g. eu-west-1."
  default     = "us-east-1"
}

variable "name_prefix" {
  type        = string
  description = "Prefix for every resource name (lowercase letters, digits and dashes)."
  default     = "schemahub"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}$", var.name_prefix))
    error_message = "name_prefix must be 2-31 lowercase letters, digits or dashes, starting with a letter."
  }
}

variable "bucket_name" {
  type        = string
  description = "Name of the S3 data bucket (raw/, unified/, Meltano state, Athena results). Null derives <name_prefix>-<account id>-<region>."
  default     = null
}

variable "vpc_id" {
  type        = string
  description = "VPC the tasks run in. The subnets below must belong to it."
}

variable "subnet_ids" {
  type        = list(string)
  description = "Subnets for the Fargate tasks. With assign_public_ip = true they must be public subnets (route to an internet gateway); no NAT gateway is needed."

  validation {
    condition     = length(var.subnet_ids) > 0
    error_message = "subnet_ids needs at least one subnet."
  }
}

variable "assign_public_ip" {
  type        = bool
  description = "Give every task its own public IP, so each shard has its own per-IP exchange rate limits. Set false only behind a NAT, and then divide the rate limits between shards (see README)."
  default     = true
}

variable "image_tag" {
  type        = string
  description = "Tag of the SchemaHub image in the ECR repository (tags are immutable: use the git commit, not latest)."

  validation {
    condition     = var.image_tag != "latest" && length(var.image_tag) > 0
    error_message = "image_tag must be an immutable tag such as the git commit, not latest."
  }
}

variable "shards" {
  type = list(object({
    name     = string
    exchange = string
    products = list(string)
  }))
  description = "Product shards, one Fargate task each per ingest run. name: unique shard id, also the Meltano state id suffix; exchange: coinbase, binance, binanceus or kraken; products: exact Coinbase product ids, Binance symbols or Kraken pair altnames (no globs: they also form Athena's symbol partition enum)."
  default     = [
    { name = "coinbase-majors", exchange = "coinbase", products = ["BTC-USD", "ETH-USD"] },
    { name = "binance-majors", exchange = "binance", products = ["BTCUSDT", "ETHUSDT"] },
    { name = "kraken-majors", exchange = "kraken", products = ["XBTUSD", "ETHUSD"] },
  ]

  validation {
    condition     = length(var.shards) > 0 && length(distinct([for s in var.shards : s.name])) == length(var.shards)
    error_message = "shards must be non-empty with unique names: the name is the Meltano state id suffix, and two shards sharing it would overwrite each other's bookmarks."
  }

  validation {
    condition     = alltrue([for s in var.shards : can(regex("^[a-z0-9][a-z0-9-]{0,40}$", s.name))])
    error_message = "Each shard name must be 1-41 lowercase letters, digits or dashes (it is used in resource names and the state id)."
  }

  validation {
    condition     = alltrue([for s in var.shards : !startswith(s.name, "backfill-")])
    error_message = "Shard names must not start with backfill-: that prefix is the state id suffix of backfill shards (backfill.tf), whose bookmarks a scheduled shard would otherwise share."
  }

  validation {
    condition     = alltrue([for s in var.shards : contains(["coinbase", "binance", "binanceus", "kraken"], s.exchange)])
    error_message = "Each shard exchange must be coinbase, binance, binanceus or kraken."
  }

  validation {
    condition     = alltrue([for s in var.shards : length(s.products) > 0 && alltrue([for p in s.products : can(regex("^[A-Z0-9][A-Z0-9-]*$", p))])])
    error_message = "Each shard needs at least one product, written exactly as the exchange spells it (e.g. BTC-USD, BTCUSDT); glob patterns are not allowed here."
  }
}

variable "enable_scheduling" {
  type        = bool
  description = "Master switch for the EventBridge Scheduler schedules (ingest and quality check). False keeps every schedule but disables it."
  default     = true
}

variable "ingest_schedule_expression" {
  type        = string
  description = "EventBridge Scheduler expression for the ingest tasks (one per shard)."
  default     = "rate(30 minutes)"
}

variable "check_schedule_expression" {
  type        = string
  description = "EventBridge Scheduler expression for the `schemahub check` quality-check task."
  default     = "rate(6 hours)"
}

variable "ingest_cpu" {
  type        = number
  description = "Fargate CPU units for one ingest task (1024 = 1 vCPU)."
  default     = 512
}

variable "ingest_memory" {
  type        = number
  description = "Fargate memory (MiB) for one ingest task."
  default     = 1024
}

variable "check_cpu" {
  type        = number
  description = "Fargate CPU units for the quality-check task."
  default     = 512
}

variable "check_memory" {
  type        = number
  description = "Fargate memory (MiB) for the quality-check task."
  default     = 2048
}

variable "coinbase_max_requests_per_second" {
  type        = number
  description = "tap-coinbase max_requests_per_second for each task (a whole number: the setting is an integer in meltano.yml). Coinbase allows 10 req/s per IP: keep the default with one public IP per task; use floor(10 / N) if N Coinbase shards share an egress IP."
  default     = 10

  validation {
    condition     = floor(var.coinbase_max_requests_per_second) == var.coinbase_max_requests_per_second && var.coinbase_max_requests_per_second >= 1 && var.coinbase_max_requests_per_second <= 10
    error_message = "coinbase_max_requests_per_second must be a whole number from 1 to 10: Coinbase's public limit is 10 requests/s per IP."
  }
}

variable "binance_weight_limit_per_minute" {
  type        = number
  description = "tap-binance weight_limit_per_minute for each task: 6000 on binance.com, per IP; the tap uses weight_budget_fraction (meltano.yml, 0.9) of it. Divide it by the number of Binance shards if they share an egress IP."
  default     = 6000

  validation {
    condition     = floor(var.binance_weight_limit_per_minute) == var.binance_weight_limit_per_minute && var.binance_weight_limit_per_minute >= 1
    error_message = "binance_weight_limit_per_minute must be a whole number (an integer setting of tap-binance): round N-way shares down."
  }
}

variable "binance_api_key_enabled" {
  type        = bool
  description = "Pass the Binance API key secret to Binance tasks. Enable only after putting a value into the secret (see README): ECS cannot start a task whose secret has no value."
  default     = false
}

variable "freshness_threshold_seconds" {
  type        = number
  description = "Age of the newest trade above which `schemahub check` fails and the stale-data alarm fires."
  default     = 7200
}

variable "log_retention_days" {
  type        = number
  description = "Retention of the CloudWatch log groups, in days (a value CloudWatch accepts, e.g. 30, 90, 365)."
  default     = 90

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of the values CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, ...)."
  }
}

variable "raw_infrequent_access_after_days" {
  type        = number
  description = "Days after which objects under raw/ move to STANDARD_IA (S3 requires at least 30)."
  default     = 30

  validation {
    condition     = var.raw_infrequent_access_after_days >= 30
    error_message = "raw_infrequent_access_after_days must be at least 30: S3 refuses earlier STANDARD_IA transitions."
  }
}

variable "raw_glacier_after_days" {
  type        = number
  description = "Days after which objects under raw/ move to GLACIER_IR (at least 30 days after the STANDARD_IA transition)."
  default     = 180
}

variable "noncurrent_version_expiration_days" {
  type        = number
  description = "Days a replaced or deleted object version is kept before it expires (versioning protects against mistakes, not as an archive)."
  default     = 30
}

variable "metric_namespace" {
  type        = string
  description = "CloudWatch namespace of the metrics `schemahub check --publish-cloudwatch` writes; the task role may write only here."
  default     = "SchemaHub"
}

variable "alarm_emails" {
  type        = list(string)
  description = "E-mail addresses subscribed to the alarm SNS topic (each must confirm the subscription)."
  default     = []
}

variable "monthly_budget_usd" {
  type        = number
  description = "Monthly AWS cost budget in USD; an alert goes to the SNS topic at 80 % actual and 100 % forecast."
  default     = 50
}

variable "binanceus_weight_limit_per_minute" {
  type        = number
  description = "tap-binance weight_limit_per_minute for binanceus shards: Binance.US allows 1200 per IP. Divide it by the number of binanceus shards if they share an egress IP."
  default     = 1200

  validation {
    condition     = floor(var.binanceus_weight_limit_per_minute) == var.binanceus_weight_limit_per_minute && var.binanceus_weight_limit_per_minute >= 1
    error_message = "binanceus_weight_limit_per_minute must be a whole number (an integer setting of tap-binance): round N-way shares down."
  }
}

variable "projection_start_date" {
  type        = string
  description = "First date (yyyy-MM-dd) Athena's partition projection considers for trades_unified and the raw tables; queries without a date filter scan every day from here."
  default     = "2024-01-01"

  validation {
    condition     = can(regex("^\\d{4}-\\d{2}-\\d{2}$", var.projection_start_date))
    error_message = "projection_start_date must be a date in yyyy-MM-dd form."
  }
}

variable "athena_bytes_scanned_cutoff_per_query" {
  type        = number
  description = "Athena cancels a query of the workgroup that would scan more bytes than this (cost guard; minimum 10 MB)."
  default     = 107374182400
}

variable "backfill_max_concurrency" {
  type        = number
  description = "Backfill shards the Step Functions Map runs at once (one Fargate task each). Each task has its own public IP and so its own exchange rate limits; behind a NAT they share one."
  default     = 8

  validation {
    condition     = var.backfill_max_concurrency >= 1 && var.backfill_max_concurrency <= 40
    error_message = "backfill_max_concurrency must be 1-40 (Step Functions' inline Map runs at most 40 iterations at once)."
  }
}

variable "backfill_shard_retries" {
  type        = number
  description = "Times a failed backfill shard is rerun (from its own bookmark) before the backfill execution fails."
  default     = 3
}

variable "table_optimizer_tables" {
  type        = list(string)
  description = "Iceberg tables of the schemahub Glue database that AWS Glue's table optimizers maintain (compaction, snapshot retention, orphan-file deletion). Empty until the first ingest run has created them: an optimizer needs an existing table (docs/operations.md)."
  default     = []

  validation {
    condition     = alltrue([for t in var.table_optimizer_tables : can(regex("^(trades_unified|raw_[a-z0-9_]+)$", t))])
    error_message = "table_optimizer_tables may name trades_unified and raw_<stream> tables only (the target's Iceberg tables)."
  }
}

variable "snapshot_retention_days" {
  type        = number
  description = "Glue's snapshot retention expires Iceberg snapshots older than this many days (keeping at least the newest 100) and deletes the files only they referenced; also the reach of `query --as-of` and Athena time travel."
  default     = 7
}

variable "orphan_file_retention_days" {
  type        = number
  description = "Glue's orphan-file deletion removes files no snapshot references once they are this many days old (never a commit in flight)."
  default     = 3

  validation {
    condition     = var.orphan_file_retention_days >= 1
    error_message = "orphan_file_retention_days must be at least 1: a younger unreferenced file may belong to a commit in flight."
  }
}
