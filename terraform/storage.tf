# The one data bucket: lake/ (target-s3-parquet output_uri: raw/ and unified/ and the
# target's own staging/commit records), meltano-state/ (Meltano's S3 state backend) and
# athena-results/. Encrypted with the project key, versioned, never public, TLS only.

locals {
  bucket_name = coalesce(var.bucket_name, "${var.name_prefix}-${local.account_id}-${var.aws_region}")
  output_uri  = "s3://${aws_s3_bucket.data.bucket}/${local.lake_prefix}"
  state_uri   = "s3://${aws_s3_bucket.data.bucket}/${local.state_prefix}"
}

resource "aws_s3_bucket" "data" {
  # checkov:skip=CKV_AWS_18: access logging needs a second bucket; CloudTrail data events are the audit path (README)
  # checkov:skip=CKV_AWS_144: single-region deployment; cross-region replication is an opt-in cost decision (README)
  # checkov:skip=CKV2_AWS_62: nothing consumes object events; tasks are started by EventBridge Scheduler
  bucket = local.bucket_name
}

resource "aws_s3_bucket_ownership_controls" "data" {
  bucket = aws_s3_bucket.data.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "data" {
  bucket                  = aws_s3_bucket.data.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "data" {
  bucket = aws_s3_bucket.data.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "data" {
  bucket = aws_s3_bucket.data.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.main.arn
    }
    # One data key per bucket instead of per object: far fewer KMS calls for many small files.
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "data" {
  bucket = aws_s3_bucket.data.id

  lifecycle {
    # A precondition, not a variable validation: those may compare variables only from 1.9 on.
    precondition {
      condition     = var.raw_glacier_after_days >= var.raw_infrequent_access_after_days + 30
      error_message = "raw_glacier_after_days must be at least raw_infrequent_access_after_days + 30: objects stay 30 days in STANDARD_IA before S3 moves them on."
    }
  }

  # The raw audit trail is written once and rarely read: move it to cheaper classes.
  # GLACIER_IR stays readable by Athena without a restore. Objects under 128 KiB are left in
  # STANDARD because IA classes bill them as 128 KiB anyway.
  rule {
    id     = "raw-to-cheaper-storage"
    status = "Enabled"
    filter {
      and {
        prefix                   = "${local.lake_prefix}/raw/"
        object_size_greater_than = 131072
      }
    }
    transition {
      days          = var.raw_infrequent_access_after_days
      storage_class = "STANDARD_IA"
    }
    transition {
      days          = var.raw_glacier_after_days
      storage_class = "GLACIER_IR"
    }
  }

  rule {
    id     = "athena-results-expire"
    status = "Enabled"
    filter {
      prefix = "${local.athena_prefix}/"
    }
    expiration {
      days = 30
    }
  }

  rule {
    id     = "housekeeping"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }
  }
}

data "aws_iam_policy_document" "data_bucket" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [
      aws_s3_bucket.data.arn,
      "${aws_s3_bucket.data.arn}/*",
    ]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "data" {
  bucket = aws_s3_bucket.data.id
  policy = data.aws_iam_policy_document.data_bucket.json
  # The public access block must exist first, or a racing policy could be public for a moment.
  depends_on = [aws_s3_bucket_public_access_block.data]
}
