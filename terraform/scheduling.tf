# EventBridge Scheduler starts one ingest task per shard every 30 minutes and the quality check
# every 6 hours. Nothing else coordinates the shards: each has its own Meltano state id, and an
# overlapping run of the same shard is harmless (the target's conditional commit records keep
# every trade exactly once). Each task starts from the image's fresh Meltano system database,
# so a killed run never leaves a "still running" record behind to block the next one.

resource "aws_scheduler_schedule_group" "main" {
  name = var.name_prefix
}

resource "aws_scheduler_schedule" "ingest" {
  for_each = local.shards

  name                         = "${var.name_prefix}-ingest-${each.key}"
  group_name                   = aws_scheduler_schedule_group.main.name
  description                  = "meltano run ${local.shard_job[each.value.exchange]} for shard ${each.key}: ${join(", ", each.value.products)}"
  schedule_expression          = var.ingest_schedule_expression
  schedule_expression_timezone = "UTC"
  state                        = var.enable_scheduling ? "ENABLED" : "DISABLED"
  kms_key_arn                  = aws_kms_key.main.arn

  flexible_time_window {
    # Spread the shards' starts over a few minutes instead of all hitting ECS at once.
    mode                      = "FLEXIBLE"
    maximum_window_in_minutes = 5
  }

  target {
    arn      = aws_ecs_cluster.main.arn
    role_arn = aws_iam_role.scheduler.arn

    ecs_parameters {
      task_definition_arn = aws_ecs_task_definition.ingest[each.key].arn
      launch_type         = "FARGATE"
      task_count          = 1

      network_configuration {
        subnets          = local.task_network_configuration.subnets
        security_groups  = local.task_network_configuration.security_groups
        assign_public_ip = local.task_network_configuration.assign_public_ip
      }
    }

    retry_policy {
      # A missed start is caught up by the next run 30 minutes later; don't pile retries on it.
      maximum_retry_attempts       = 2
      maximum_event_age_in_seconds = 900
    }
  }
}

resource "aws_scheduler_schedule" "check" {
  name                         = "${var.name_prefix}-check"
  group_name                   = aws_scheduler_schedule_group.main.name
  description                  = "schemahub check --publish-cloudwatch over the unified table"
  schedule_expression          = var.check_schedule_expression
  schedule_expression_timezone = "UTC"
  state                        = var.enable_scheduling ? "ENABLED" : "DISABLED"
  kms_key_arn                  = aws_kms_key.main.arn

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = aws_ecs_cluster.main.arn
    role_arn = aws_iam_role.scheduler.arn

    ecs_parameters {
      task_definition_arn = aws_ecs_task_definition.check.arn
      launch_type         = "FARGATE"
      task_count          = 1

      network_configuration {
        subnets          = local.task_network_configuration.subnets
        security_groups  = local.task_network_configuration.security_groups
        assign_public_ip = local.task_network_configuration.assign_public_ip
      }
    }

    retry_policy {
      maximum_retry_attempts       = 2
      maximum_event_age_in_seconds = 3600
    }
  }
}
