# Keys, secrets and IAM. Every grant names this deployment's resources: this bucket's prefixes,
# this secret, this key, this metric namespace. "*" appears only where AWS has no narrower form
# (ecr:GetAuthorizationToken, cloudwatch:PutMetricData, which is then bound to one namespace),
# and as the key's own Resource in its key policy, where "*" means "this key".

# ---- the project key: S3, logs, ECR, Secrets Manager, SNS, Athena results, schedules ----

resource "aws_kms_key" "main" {
  description             = "SchemaHub data, logs, secrets and notifications"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = jsonencode({
    Version   = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministersTheKeyThroughIAM"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchLogsEncryptsOurLogGroups"
        Effect    = "Allow"
        Principal = { Service = "logs.${var.aws_region}.amazonaws.com" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Condition = {
          ArnLike = {
            "kms:EncryptionContext:aws:logs:arn" = [
              "arn:${local.partition}:logs:${var.aws_region}:${local.account_id}:log-group:/${var.name_prefix}/*",
              "arn:${local.partition}:logs:${var.aws_region}:${local.account_id}:log-group:/aws/events/${var.name_prefix}-*",
            ]
          }
        }
      },
      {
        Sid       = "AlarmsAndBudgetsPublishToEncryptedTopic"
        Effect    = "Allow"
        Principal = {
          Service = ["cloudwatch.amazonaws.com", "budgets.amazonaws.com"]
        }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey*"]
        Resource  = "*"
        Condition = { StringEquals = { "aws:SourceAccount" = local.account_id } }
      },
    ]
  })
}

resource "aws_kms_alias" "main" {
  name          = "alias/${var.name_prefix}"
  target_key_id = aws_kms_key.main.key_id
}

# ---- Binance API key: the value is put out of band (README), so it never enters tf state ----

resource "aws_secretsmanager_secret" "binance_api_key" {
  # checkov:skip=CKV2_AWS_57: an exchange API key is issued by Binance; it cannot be rotated by a Lambda here (rotate by hand, README)
  name                    = "${var.name_prefix}/binance-api-key"
  description             = "Binance API key (X-MBX-APIKEY) for tap-binance; passed to Binance tasks as TAP_BINANCE_API_KEY"
  kms_key_id              = aws_kms_key.main.arn
  recovery_window_in_days = 7
}

# ---- roles ----

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

# Execution role: what ECS itself needs to start a task (pull the image, write logs, read the secret).
resource "aws_iam_role" "execution" {
  name               = "${var.name_prefix}-task-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

data "aws_iam_policy_document" "execution" {
  statement {
    sid       = "EcrLoginHasNoResourceLevelPermission"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }
  statement {
    sid       = "PullOurImage"
    actions   = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
    resources = [aws_ecr_repository.schemahub.arn]
  }
  statement {
    sid       = "WriteOurLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = [
      "${aws_cloudwatch_log_group.ingest.arn}:log-stream:*",
      "${aws_cloudwatch_log_group.check.arn}:log-stream:*",
    ]
  }
  statement {
    sid       = "ReadTheBinanceKey"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.binance_api_key.arn]
  }
  statement {
    sid       = "DecryptTheBinanceKey"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.main.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${var.aws_region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "start-schemahub-tasks"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

locals {
  # Our Glue database and its Iceberg tables (trades_unified, the optional raw_<stream>).
  iceberg_glue_resources = [
    "arn:${local.partition}:glue:${var.aws_region}:${local.account_id}:catalog",
    "arn:${local.partition}:glue:${var.aws_region}:${local.account_id}:database/${local.glue_database}",
    "arn:${local.partition}:glue:${var.aws_region}:${local.account_id}:table/${local.glue_database}/trades_unified",
    "arn:${local.partition}:glue:${var.aws_region}:${local.account_id}:table/${local.glue_database}/raw_*",
  ]
}

# Ingest task role: read/write the lake and the Meltano state, nothing else.
resource "aws_iam_role" "ingest_task" {
  name               = "${var.name_prefix}-ingest-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

data "aws_iam_policy_document" "ingest_task" {
  statement {
    # IfExists: a GET/HEAD of a missing key carries no s3:prefix, and S3 answers it 404 only
    # for a caller allowed to list; with a plain StringLike it would be 403, which Meltano's
    # state backend (lock files), the target and pyarrow all take for a hard error.
    sid       = "ListOnlyOurPrefixes"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.data.arn]
    condition {
      test     = "StringLikeIfExists"
      variable = "s3:prefix"
      values   = [
        local.lake_prefix, "${local.lake_prefix}/*",
        local.state_prefix, "${local.state_prefix}/*",
      ]
    }
  }
  statement {
    sid       = "ReadWriteLakeAndState"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = [
      "${aws_s3_bucket.data.arn}/${local.lake_prefix}/*",
      "${aws_s3_bucket.data.arn}/${local.state_prefix}/*",
    ]
  }
  statement {
    # The target deletes only its own staged files (target_s3_parquet.unified.STAGING_PREFIX);
    # committed data, commit records and the raw layer are never deleted by a task.
    sid       = "DeleteOnlyStagedFiles"
    actions   = ["s3:DeleteObject"]
    resources = ["${aws_s3_bucket.data.arn}/${local.lake_prefix}/_staging/*"]
  }
  statement {
    # pyiceberg removes the table's metadata files beyond write.metadata.previous-versions-max
    # (metadata cleanup). Iceberg data files are never deleted by a task: those of a commit
    # attempt that lost a race stay unreferenced until orphan-file maintenance.
    sid       = "DeleteOnlyOldIcebergMetadata"
    actions   = ["s3:DeleteObject"]
    resources = ["${aws_s3_bucket.data.arn}/${local.lake_prefix}/${local.glue_database}/*/metadata/*"]
  }
  statement {
    # pyiceberg's Glue catalog: load, create at the first commit, commit (UpdateTable with
    # the version read: optimistic concurrency). Only our database and its tables.
    sid       = "CommitToTheIcebergTables"
    # tests/test_terraform.py records the calls the target makes against moto and compares.
    actions   = ["glue:GetDatabase", "glue:GetTable", "glue:CreateTable", "glue:UpdateTable"]
    resources = local.iceberg_glue_resources
  }
  statement {
    # Meltano's S3 state backend replaces state files and removes its lock files.
    sid       = "ManageMeltanoState"
    actions   = ["s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = ["${aws_s3_bucket.data.arn}/${local.state_prefix}/*"]
  }
  statement {
    sid       = "UseTheBucketKeyThroughS3Only"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.main.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${var.aws_region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "ingest_task" {
  name   = "ingest-into-lake"
  role   = aws_iam_role.ingest_task.id
  policy = data.aws_iam_policy_document.ingest_task.json
}

# Check task role: read the unified table, publish metrics in one namespace.
resource "aws_iam_role" "check_task" {
  name               = "${var.name_prefix}-check-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

data "aws_iam_policy_document" "check_task" {
  statement {
    # IfExists for honest 404s, as for the ingest role (pyarrow HEADs the table's root key).
    sid       = "ListOnlyTheUnifiedTable"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.data.arn]
    condition {
      test     = "StringLikeIfExists"
      variable = "s3:prefix"
      values   = ["${local.lake_prefix}/unified/*", "${local.lake_prefix}/${local.glue_database}/*"]
    }
  }
  statement {
    # unified/: a Hive-layout table; <database>/: the Iceberg warehouse (data and metadata).
    sid       = "ReadTheUnifiedTable"
    actions   = ["s3:GetObject"]
    resources = [
      "${aws_s3_bucket.data.arn}/${local.lake_prefix}/unified/*",
      "${aws_s3_bucket.data.arn}/${local.lake_prefix}/${local.glue_database}/*",
    ]
  }
  statement {
    sid       = "LoadTheIcebergTables"
    actions   = ["glue:GetDatabase", "glue:GetTable"]
    resources = local.iceberg_glue_resources
  }
  statement {
    sid       = "DecryptThroughS3Only"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.main.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${var.aws_region}.amazonaws.com"]
    }
  }
  statement {
    # PutMetricData has no resource-level permission; the namespace condition is the narrowing.
    sid       = "PublishQualityMetricsInOurNamespaceOnly"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = [var.metric_namespace]
    }
  }
}

resource "aws_iam_role_policy" "check_task" {
  name   = "check-unified-table"
  role   = aws_iam_role.check_task.id
  policy = data.aws_iam_policy_document.check_task.json
}

# Scheduler role: start exactly our task definitions on our cluster, hand them our roles.
data "aws_iam_policy_document" "scheduler_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "scheduler" {
  name               = "${var.name_prefix}-scheduler"
  assume_role_policy = data.aws_iam_policy_document.scheduler_assume.json
}

data "aws_iam_policy_document" "scheduler" {
  statement {
    sid       = "RunOurTaskDefinitionsOnOurCluster"
    actions   = ["ecs:RunTask"]
    resources = concat(
      [for td in aws_ecs_task_definition.ingest : "${td.arn_without_revision}:*"],
      ["${aws_ecs_task_definition.check.arn_without_revision}:*"],
    )
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [aws_ecs_cluster.main.arn]
    }
  }
  statement {
    sid       = "PassOnlyOurTaskRoles"
    actions   = ["iam:PassRole"]
    resources = [
      aws_iam_role.execution.arn,
      aws_iam_role.ingest_task.arn,
      aws_iam_role.check_task.arn,
    ]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }
  statement {
    sid       = "ReadOurEncryptedSchedules"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.main.arn]
  }
}

resource "aws_iam_role_policy" "scheduler" {
  name   = "run-schemahub-tasks"
  role   = aws_iam_role.scheduler.id
  policy = data.aws_iam_policy_document.scheduler.json
}

# Backfill state machine role: run exactly the backfill task definitions on our cluster, wait
# for them (.sync: an EventBridge rule Step Functions manages), hand them the ingest roles.
data "aws_iam_policy_document" "states_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["states.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "backfill" {
  name               = "${var.name_prefix}-backfill"
  assume_role_policy = data.aws_iam_policy_document.states_assume.json
}

data "aws_iam_policy_document" "backfill" {
  statement {
    sid       = "RunTheBackfillTaskDefinitionsOnOurCluster"
    actions   = ["ecs:RunTask"]
    resources = [for td in aws_ecs_task_definition.backfill : "${td.arn_without_revision}:*"]
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [aws_ecs_cluster.main.arn]
    }
  }
  statement {
    # runTask.sync polls its task and stops it when the execution is stopped.
    sid       = "WatchAndStopTasksOnOurCluster"
    actions   = ["ecs:DescribeTasks", "ecs:StopTask"]
    resources = ["arn:${local.partition}:ecs:${var.aws_region}:${local.account_id}:task/${aws_ecs_cluster.main.name}/*"]
  }
  statement {
    # The one rule Step Functions creates to learn that an ECS task stopped (fixed name).
    sid       = "ManageTheEcsTaskStateRule"
    actions   = ["events:PutTargets", "events:PutRule", "events:DescribeRule"]
    resources = ["arn:${local.partition}:events:${var.aws_region}:${local.account_id}:rule/StepFunctionsGetEventsForECSTaskRule"]
  }
  statement {
    sid       = "PassOnlyTheIngestRoles"
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.execution.arn, aws_iam_role.ingest_task.arn]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }
  statement {
    # CloudWatch Logs' log delivery (how Step Functions writes execution logs) has no
    # resource-level permissions.
    sid = "DeliverExecutionLogs"
    actions = [
      "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery",
      "logs:DeleteLogDelivery", "logs:ListLogDeliveries", "logs:PutResourcePolicy",
      "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
    ]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "backfill" {
  name   = "run-backfill-tasks"
  role   = aws_iam_role.backfill.id
  policy = data.aws_iam_policy_document.backfill.json
}
