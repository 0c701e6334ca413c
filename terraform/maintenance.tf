# Table maintenance of the Iceberg tables by AWS Glue's managed table optimizers, not by our
# tasks: compaction (bin-pack small files), snapshot retention (expire old snapshots and delete
# the files only they referenced) and orphan-file deletion (files no snapshot references, e.g.
# those of a commit attempt that lost a race). The target creates the tables at its first
# commit (catalog.tf) and an optimizer can only be attached to an existing table, so the tables
# are listed in var.table_optimizer_tables once the first ingest run has created them
# (docs/operations.md). The exactly-once ranges live in table properties, which the optimizers'
# commits keep; their snapshots carry no ranges, as the target expects.

locals {
  # type => the optimizer's settings; one optimizer per (table, type).
  table_optimizer_types = ["compaction", "retention", "orphan_file_deletion"]
  table_optimizers = {
    for pair in setproduct(var.table_optimizer_tables, local.table_optimizer_types) :
    "${pair[0]}.${pair[1]}" => { table = pair[0], type = pair[1] }
  }
  # The target keeps its newest 100 snapshots itself (target_s3_parquet.iceberg_table
  # KEEP_SNAPSHOTS, its `query --as-of` reach); retention never keeps fewer.
  snapshots_to_retain = 100
  # Where each optimized table's files are (the target puts every table at <lake>/schemahub/<table>).
  optimized_table_prefixes = [for t in var.table_optimizer_tables : "${local.lake_prefix}/${local.glue_database}/${t}"]
  # Glue writes each optimizer's run log to its own fixed log group.
  table_optimizer_log_groups = [
    for kind in ["iceberg-compaction", "iceberg-retention", "iceberg-orphan-file-deletion"] :
    "arn:${local.partition}:logs:${var.aws_region}:${local.account_id}:log-group:/aws-glue/${kind}/logs:*"
  ]
}

resource "aws_glue_catalog_table_optimizer" "iceberg" {
  for_each = local.table_optimizers

  catalog_id    = local.account_id
  database_name = aws_glue_catalog_database.main.name
  table_name    = each.value.table
  type          = each.value.type

  configuration {
    role_arn = aws_iam_role.table_optimizer[0].arn
    enabled  = true

    dynamic "retention_configuration" {
      for_each = each.value.type == "retention" ? [1] : []
      content {
        iceberg_configuration {
          snapshot_retention_period_in_days = var.snapshot_retention_days
          number_of_snapshots_to_retain     = local.snapshots_to_retain
          # Delete the data files only expired snapshots referenced (compacted-away files).
          clean_expired_files = true
        }
      }
    }

    dynamic "orphan_file_deletion_configuration" {
      for_each = each.value.type == "orphan_file_deletion" ? [1] : []
      content {
        iceberg_configuration {
          # Older than any commit in flight by days: a file being committed is never an orphan.
          orphan_file_retention_period_in_days = var.orphan_file_retention_days
          location                             = "${local.lake_location}/${local.glue_database}/${each.value.table}"
        }
      }
    }
  }
}

data "aws_iam_policy_document" "glue_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["glue.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

# The optimizers' role: read, write and delete the optimized tables' files, commit to their
# Glue entries, write the optimizer logs. Nothing of the raw layer, the state or other tables.
resource "aws_iam_role" "table_optimizer" {
  # No tables, no role: an IAM policy cannot grant on an empty resource list.
  count = length(var.table_optimizer_tables) > 0 ? 1 : 0

  name               = "${var.name_prefix}-table-optimizer"
  assume_role_policy = data.aws_iam_policy_document.glue_assume.json
}

data "aws_iam_policy_document" "table_optimizer" {
  count = length(aws_iam_role.table_optimizer)

  statement {
    sid       = "ListOnlyTheOptimizedTables"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.data.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = concat(local.optimized_table_prefixes, [for p in local.optimized_table_prefixes : "${p}/*"])
    }
  }
  statement {
    # Compaction writes new files and the new metadata; retention and orphan deletion delete.
    sid       = "RewriteOnlyTheOptimizedTables"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = [for p in local.optimized_table_prefixes : "${aws_s3_bucket.data.arn}/${p}/*"]
  }
  statement {
    sid     = "CommitToTheOptimizedTables"
    actions = ["glue:GetDatabase", "glue:GetTable", "glue:UpdateTable"]
    resources = concat(
      [
        "arn:${local.partition}:glue:${var.aws_region}:${local.account_id}:catalog",
        "arn:${local.partition}:glue:${var.aws_region}:${local.account_id}:database/${local.glue_database}",
      ],
      [for t in var.table_optimizer_tables : "arn:${local.partition}:glue:${var.aws_region}:${local.account_id}:table/${local.glue_database}/${t}"],
    )
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
  statement {
    sid       = "WriteTheOptimizerLogs"
    actions   = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]
    resources = local.table_optimizer_log_groups
  }
}

resource "aws_iam_role_policy" "table_optimizer" {
  count = length(aws_iam_role.table_optimizer)

  name   = "optimize-iceberg-tables"
  role   = aws_iam_role.table_optimizer[count.index].id
  policy = data.aws_iam_policy_document.table_optimizer[count.index].json
}
