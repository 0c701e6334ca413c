output "bucket_name" {
  description = "The data bucket."
  value       = aws_s3_bucket.data.bucket
}

output "output_uri" {
  description = "target-s3-parquet output_uri the tasks use (raw/ and unified/ below it)."
  value       = local.output_uri
}

output "state_backend_uri" {
  description = "MELTANO_STATE_BACKEND_URI the tasks use."
  value       = local.state_uri
}

output "ecr_repository_url" {
  description = "Push the image here (docker push <url>:<image_tag>)."
  value       = aws_ecr_repository.schemahub.repository_url
}

output "ecs_cluster_name" {
  description = "The ECS cluster running the tasks."
  value       = aws_ecs_cluster.main.name
}

output "ingest_task_definitions" {
  description = "Ingest task definition family per shard (for a manual aws ecs run-task)."
  value       = { for name, td in aws_ecs_task_definition.ingest : name => td.family }
}

output "check_task_definition" {
  description = "The quality-check task definition family."
  value       = aws_ecs_task_definition.check.family
}

output "task_subnets" {
  description = "Subnets for a manual aws ecs run-task."
  value       = local.task_network_configuration.subnets
}

output "task_security_group_id" {
  description = "Security group for a manual aws ecs run-task."
  value       = aws_security_group.tasks.id
}

output "binance_api_key_secret_arn" {
  description = "Put the Binance API key here with aws secretsmanager put-secret-value."
  value       = aws_secretsmanager_secret.binance_api_key.arn
}

output "glue_database" {
  description = "Glue database holding trades_unified and the raw tables."
  value       = aws_glue_catalog_database.main.name
}

output "athena_workgroup" {
  description = "Athena workgroup to query with (results encrypted, configuration enforced)."
  value       = aws_athena_workgroup.main.name
}

output "alarm_topic_arn" {
  description = "SNS topic every alarm and the budget notify."
  value       = aws_sns_topic.alarms.arn
}

output "backfill_state_machine_arn" {
  description = "Start a backfill here (aws stepfunctions start-execution, input in docs/operations.md)."
  value       = aws_sfn_state_machine.backfill.arn
}
