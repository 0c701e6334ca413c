# Alarms go to one SNS topic. Sources:
#   - failed tasks: ECS task state changes (non-zero exit, or failed to start) are routed by an
#     EventBridge rule into a log group, counted by a metric filter, alarmed on;
#   - dropped schedule invocations (Scheduler gave up starting a task);
#   - data quality from `schemahub check --publish-cloudwatch` (schemahub_core/check.py:
#     FreshnessSeconds, DuplicateTradeIds, HealthScore without dimensions = whole table);
#   - exchange health from the ingest logs: 429s, 5xx and circuit-breaker openings;
#   - cost: an AWS Budgets alert.

locals {
  # Terms matched in the ingest log lines. The first two are schemahub_core.metrics'
  # HTTP_THROTTLED_COUNT / HTTP_SERVER_ERROR_COUNT counters (one METRIC line per response);
  # the third matches schemahub_core.breaker's transition log "circuit breaker 'x': closed -> open".
  # tests/test_terraform.py checks these against the real log output of schemahub-core.
  log_metric_filters = {
    HttpThrottled = {
      pattern     = "\"http_throttled_count\""
      description = "HTTP 429 responses from an exchange"
      threshold   = 10
    }
    HttpServerErrors = {
      pattern     = "\"http_server_error_count\""
      description = "HTTP 5xx responses from an exchange"
      threshold   = 50
    }
    BreakerOpenings = {
      pattern     = "\"circuit breaker\" \"> open\""
      description = "circuit breaker openings (an exchange failing repeatedly)"
      threshold   = 1
    }
  }
  alarm_actions = [aws_sns_topic.alarms.arn]
}

resource "aws_sns_topic" "alarms" {
  name              = "${var.name_prefix}-alarms"
  kms_master_key_id = aws_kms_key.main.arn
}

data "aws_iam_policy_document" "alarms_topic" {
  statement {
    sid       = "AlarmsAndBudgetsPublish"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alarms.arn]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com", "budgets.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_sns_topic_policy" "alarms" {
  arn    = aws_sns_topic.alarms.arn
  policy = data.aws_iam_policy_document.alarms_topic.json
}

resource "aws_sns_topic_subscription" "alarm_email" {
  for_each  = toset(var.alarm_emails)
  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = each.value
}

# ---- failed tasks ----

resource "aws_cloudwatch_log_group" "task_failures" {
  # checkov:skip=CKV_AWS_338: retention is the log_retention_days variable (default 90): these are alarm inputs, not an audit record
  # EventBridge writes only to log groups named /aws/events/...
  name              = "/aws/events/${var.name_prefix}-task-failures"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

data "aws_iam_policy_document" "task_failures_log" {
  statement {
    sid       = "EventBridgeWritesTaskFailures"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.task_failures.arn}:*"]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com", "delivery.logs.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.task_failed.arn]
    }
  }
}

resource "aws_cloudwatch_log_resource_policy" "task_failures" {
  policy_name     = "${var.name_prefix}-task-failures"
  policy_document = data.aws_iam_policy_document.task_failures_log.json
}

resource "aws_cloudwatch_event_rule" "task_failed" {
  name          = "${var.name_prefix}-task-failed"
  description   = "A SchemaHub task stopped with a non-zero exit code or never started"
  event_pattern = jsonencode({
    source        = ["aws.ecs"]
    "detail-type" = ["ECS Task State Change"]
    detail        = {
      clusterArn = [aws_ecs_cluster.main.arn]
      lastStatus = ["STOPPED"]
      "$or"      = [
        { containers = { exitCode = [{ "anything-but" = 0 }] } },
        { stopCode = ["TaskFailedToStart"] },
      ]
    }
  })
}

resource "aws_cloudwatch_event_target" "task_failed_to_log" {
  rule = aws_cloudwatch_event_rule.task_failed.name
  arn  = aws_cloudwatch_log_group.task_failures.arn
}

resource "aws_cloudwatch_log_metric_filter" "failed_tasks" {
  name           = "${var.name_prefix}-failed-tasks"
  log_group_name = aws_cloudwatch_log_group.task_failures.name
  pattern        = "{ $.detail.lastStatus = \"STOPPED\" }"

  metric_transformation {
    name          = "FailedTasks"
    namespace     = var.metric_namespace
    value         = "1"
    default_value = "0"
  }
}

resource "aws_cloudwatch_metric_alarm" "failed_tasks" {
  alarm_name          = "${var.name_prefix}-failed-tasks"
  alarm_description   = "A SchemaHub ingest or check task failed. Read its log in /${var.name_prefix}/ingest or /check (stream prefix = shard name); the event is in /aws/events/${var.name_prefix}-task-failures."
  namespace           = var.metric_namespace
  metric_name         = "FailedTasks"
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "schedule_dropped" {
  alarm_name          = "${var.name_prefix}-schedule-dropped"
  alarm_description   = "EventBridge Scheduler gave up starting a SchemaHub task after its retries (ECS capacity, IAM, or a deleted task definition)."
  namespace           = "AWS/Scheduler"
  metric_name         = "InvocationDroppedCount"
  dimensions          = { ScheduleGroup = aws_scheduler_schedule_group.main.name }
  statistic           = "Sum"
  period              = 3600
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
}

# ---- data quality (schemahub check) ----

resource "aws_cloudwatch_metric_alarm" "stale_data" {
  alarm_name          = "${var.name_prefix}-stale-data"
  alarm_description   = "The newest trade of some symbol is older than ${var.freshness_threshold_seconds}s (schemahub check FreshnessSeconds). Are the ingest schedules enabled and the tasks succeeding?"
  namespace           = var.metric_namespace
  metric_name         = "FreshnessSeconds"
  statistic           = "Maximum"
  period              = 21600
  evaluation_periods  = 1
  threshold           = var.freshness_threshold_seconds
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "check_not_reporting" {
  alarm_name          = "${var.name_prefix}-check-not-reporting"
  alarm_description   = "schemahub check published nothing for 12 hours (two check intervals): freshness is no longer watched. Is the check schedule enabled, does the check task fail?"
  namespace           = var.metric_namespace
  metric_name         = "HealthScore"
  statistic           = "SampleCount"
  period              = 43200
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "duplicates" {
  alarm_name          = "${var.name_prefix}-duplicate-trades"
  alarm_description   = "schemahub check found trade ids stored more than once in trades_unified: the exactly-once guarantee broke. Run `schemahub check --json` for the symbols."
  namespace           = var.metric_namespace
  metric_name         = "DuplicateTradeIds"
  statistic           = "Maximum"
  period              = 21600
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
}

# ---- exchange health from the ingest logs ----

resource "aws_cloudwatch_log_metric_filter" "ingest" {
  for_each       = local.log_metric_filters
  name           = "${var.name_prefix}-${each.key}"
  log_group_name = aws_cloudwatch_log_group.ingest.name
  pattern        = each.value.pattern

  metric_transformation {
    name          = each.key
    namespace     = var.metric_namespace
    value         = "1"
    default_value = "0"
  }
}

resource "aws_cloudwatch_metric_alarm" "ingest" {
  for_each            = local.log_metric_filters
  alarm_name          = "${var.name_prefix}-${each.key}"
  alarm_description   = "${each.value.description}: ${each.value.threshold} or more in 30 minutes. Check the shard's rate-limit settings (README) and the exchange's status page."
  namespace           = var.metric_namespace
  metric_name         = aws_cloudwatch_log_metric_filter.ingest[each.key].metric_transformation[0].name
  statistic           = "Sum"
  period              = 1800
  evaluation_periods  = 1
  threshold           = each.value.threshold
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
}

resource "aws_cloudwatch_dashboard" "main" {
  dashboard_name = var.name_prefix
  dashboard_body = jsonencode({
    widgets = [
      for i, w in [
        { title = "Exchange responses that made the taps back off", metrics = ["HttpThrottled", "HttpServerErrors", "BreakerOpenings"], stat = "Sum" },
        { title = "Failed tasks", metrics = ["FailedTasks"], stat = "Sum" },
        { title = "Age of the newest trade (worst symbol, s)", metrics = ["FreshnessSeconds"], stat = "Maximum" },
        { title = "Health score and duplicate trade ids", metrics = ["HealthScore", "DuplicateTradeIds"], stat = "Maximum" },
        ] : {
        type       = "metric"
        x          = (i % 2) * 12
        y          = floor(i / 2) * 6
        width      = 12
        height     = 6
        properties = {
          title   = w.title
          region  = var.aws_region
          stat    = w.stat
          period  = 1800
          view    = "timeSeries"
          metrics = [for m in w.metrics : [var.metric_namespace, m]]
        }
      }
    ]
  })
}

# ---- cost ----

resource "aws_budgets_budget" "monthly" {
  name         = "${var.name_prefix}-monthly"
  budget_type  = "COST"
  limit_amount = tostring(var.monthly_budget_usd)
  limit_unit   = "USD"
  time_unit    = "MONTHLY"

  notification {
    comparison_operator       = "GREATER_THAN"
    threshold                 = 80
    threshold_type            = "PERCENTAGE"
    notification_type         = "ACTUAL"
    subscriber_sns_topic_arns = [aws_sns_topic.alarms.arn]
  }

  notification {
    comparison_operator       = "GREATER_THAN"
    threshold                 = 100
    threshold_type            = "PERCENTAGE"
    notification_type         = "FORECASTED"
    subscriber_sns_topic_arns = [aws_sns_topic.alarms.arn]
  }
}
