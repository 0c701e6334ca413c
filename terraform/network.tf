# Tasks run in the subnets you pass in (README: the default VPC's public subnets work). With
# assign_public_ip each task gets its own public IP and so its own per-IP exchange rate limits;
# no NAT gateway is involved. Nothing connects in; out, everything the tasks talk to (exchanges,
# S3, ECR, CloudWatch, Secrets Manager) is HTTPS.

data "aws_subnet" "tasks" {
  for_each = toset(var.subnet_ids)
  id       = each.value

  lifecycle {
    postcondition {
      condition     = self.vpc_id == var.vpc_id
      error_message = "Subnet ${each.value} is not in vpc_id ${var.vpc_id}."
    }
  }
}

resource "aws_security_group" "tasks" {
  # checkov:skip=CKV2_AWS_5: attached to the tasks through the EventBridge Scheduler ECS targets (scheduling.tf), a link checkov does not follow
  name        = "${var.name_prefix}-tasks"
  description = "SchemaHub Fargate tasks: no inbound, HTTPS outbound only"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_egress_rule" "https" {
  security_group_id = aws_security_group.tasks.id
  description       = "HTTPS to exchange APIs and AWS endpoints"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

locals {
  task_network_configuration = {
    subnets          = [for s in data.aws_subnet.tasks : s.id]
    security_groups  = [aws_security_group.tasks.id]
    assign_public_ip = var.assign_public_ip
  }
}
