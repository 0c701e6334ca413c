# The SchemaHub image (Dockerfile at the repository root). Tags are immutable so a task
# definition always runs exactly the image it names; every push is scanned.

resource "aws_ecr_repository" "schemahub" {
  name                 = var.name_prefix
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = aws_kms_key.main.arn
  }
}

resource "aws_ecr_lifecycle_policy" "schemahub" {
  repository = aws_ecr_repository.schemahub.name
  policy     = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "Keep the 30 most recent images; older ones cannot be running anyway."
      selection    = {
        tagStatus   = "any"
        countType   = "imageCountMoreThan"
        countNumber = 30
      }
      action = { type = "expire" }
    }]
  })
}

locals {
  image_uri = "${aws_ecr_repository.schemahub.repository_url}:${var.image_tag}"
}
