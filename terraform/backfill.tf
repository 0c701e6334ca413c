# Backfill fan-out: a Step Functions Map state runs the ingest container once per shard of a
# backfill (exchange x products, from a start date), at most var.backfill_max_concurrency at
# a time, each under its own Meltano state id `<env>:<tap>-to-<target>:backfill-<shard>`. A
# failed or cut shard is rerun by the Map's retry (or a new execution): it resumes from its
# bookmark, and the target keeps every trade exactly once whatever overlaps (other shards, the
# scheduled incremental runs). Input: {"shards": [{"name", "exchange", "products", "start_date"}]}
# (docs/operations.md). The taps have no end date, so a shard runs from its start date to now:
# shards split by products, not by period.

locals {
  # The exchange kinds a backfill can run: those the ingest shards know (compute.tf).
  backfill_exchanges = keys(local.shard_job)

  # Which setting carries a shard's start date for each tap.
  shard_start_date_setting = {
    coinbase  = "TAP_COINBASE_START_DATE"
    binance   = "TAP_BINANCE_START_DATE"
    binanceus = "TAP_BINANCE_START_DATE"
    kraken    = "TAP_KRAKEN_START_DATE"
  }

  # One task state per exchange kind: the same container as the scheduled shards, with the
  # shard's products, start date and state id suffix from the Map item.
  backfill_task_states = {
    for kind in local.backfill_exchanges : "Backfill ${kind} shard" => {
      Type     = "Task"
      Resource = "arn:${local.partition}:states:::ecs:runTask.sync"
      Parameters = {
        Cluster        = aws_ecs_cluster.main.arn
        TaskDefinition = aws_ecs_task_definition.backfill[kind].arn
        LaunchType     = "FARGATE"
        NetworkConfiguration = {
          AwsvpcConfiguration = {
            Subnets        = local.task_network_configuration.subnets
            SecurityGroups = local.task_network_configuration.security_groups
            AssignPublicIp = var.assign_public_ip ? "ENABLED" : "DISABLED"
          }
        }
        Overrides = {
          ContainerOverrides = [{
            Name = "meltano"
            Environment = [
              { Name = local.shard_products_setting[kind], "Value.$" = "States.JsonToString($.products)" },
              { Name = local.shard_start_date_setting[kind], "Value.$" = "$.start_date" },
              { Name = "MELTANO_RUN_STATE_ID_SUFFIX", "Value.$" = "States.Format('backfill-{}', $.name)" },
            ]
          }]
        }
      }
      # A rerun resumes from the shard's bookmark: safe, and cheaper than failing the backfill.
      Retry = [{
        ErrorEquals     = ["States.TaskFailed", "ECS.AmazonECSException"]
        IntervalSeconds = 120
        MaxAttempts     = var.backfill_shard_retries
        BackoffRate     = 2
      }]
      End = true
    }
  }

  backfill_definition = {
    Comment = "SchemaHub backfill: one ingest task per shard, each with its own Meltano state id"
    StartAt = "Shards"
    States = {
      Shards = {
        Type           = "Map"
        ItemsPath      = "$.shards"
        MaxConcurrency = var.backfill_max_concurrency
        ItemProcessor = {
          ProcessorConfig = { Mode = "INLINE" }
          StartAt         = "Which exchange"
          States = merge(local.backfill_task_states, {
            "Which exchange" = {
              Type = "Choice"
              Choices = [for kind in local.backfill_exchanges : {
                Variable     = "$.exchange"
                StringEquals = kind
                Next         = "Backfill ${kind} shard"
              }]
              Default = "Unknown exchange"
            }
            "Unknown exchange" = {
              Type  = "Fail"
              Error = "UnknownExchange"
              Cause = "A shard's exchange must be one of: ${join(", ", local.backfill_exchanges)}"
            }
          })
        }
        End = true
      }
    }
  }
}

resource "aws_ecs_task_definition" "backfill" {
  # checkov:skip=CKV_AWS_336: Meltano writes its run config, logs and system database under .meltano/ beside the plugin virtualenvs installed at build time
  for_each = toset(local.backfill_exchanges)

  family                   = "${var.name_prefix}-backfill-${each.key}"
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
    command     = ["run", local.shard_job[each.key]]
    environment = [for k, v in merge(local.common_environment, local.shard_tap_settings[each.key]) : { name = k, value = v }]
    secrets = (
      var.binance_api_key_enabled && contains(["binance", "binanceus"], each.key)
      ? local.binance_api_key_secret : []
    )
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.ingest.name
        awslogs-region        = var.aws_region
        awslogs-stream-prefix = "backfill-${each.key}"
      }
    }
  })])
}

resource "aws_cloudwatch_log_group" "backfill" {
  # checkov:skip=CKV_AWS_338: retention is the log_retention_days variable (default 90): execution logs are operational
  name              = "/${var.name_prefix}/backfill"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

# Execution history holds shard names, products and dates only: Step Functions' own at-rest
# encryption is enough, the project key is not involved.
resource "aws_sfn_state_machine" "backfill" {
  # checkov:skip=CKV_AWS_284: the machine only starts ECS tasks and waits; X-Ray traces would show nothing the execution history and the task logs do not
  name       = "${var.name_prefix}-backfill"
  role_arn   = aws_iam_role.backfill.arn
  definition = jsonencode(local.backfill_definition)

  logging_configuration {
    log_destination        = "${aws_cloudwatch_log_group.backfill.arn}:*"
    include_execution_data = true
    level                  = "ERROR"
  }

}
