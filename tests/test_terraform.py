"""Static checks of terraform/ (there is no terraform binary here): it parses, every variable is
typed and described, every reference resolves, checkov finds nothing, and the Glue catalog
cannot drift from the unified schema in schemahub-core or the taps' stream schemas."""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import importlib
import json
import logging
import os
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import hcl2
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from schemahub_core import check, metrics
from schemahub_core.breaker import BreakerState, CircuitBreaker
from schemahub_core.schema import (
    FILE_SCHEMA,
    UNIFIED_TABLE,
)
from target_s3_parquet import unified

ROOT = Path(__file__).resolve().parents[1]
TERRAFORM = ROOT / "terraform"
# One file per concern (issue 8), plus versions.tf for the pinned provider.
CONCERNS = ["network", "storage", "registry", "compute", "scheduling", "identity", "catalog"]
CONCERNS += ["monitoring", "variables", "outputs", "versions", "backfill", "maintenance"]
CHECKOV_VENV = ROOT / ".venv-checkov"


def _clean(node: Any) -> Any:
    """python-hcl2 keeps string quotes and adds bookkeeping keys; strip both."""
    if isinstance(node, dict):
        return {
            _clean(k): _clean(v)
            for k, v in node.items()
            if k not in ("__is_block__", "__comments__", "__inline_comments__")
        }
    if isinstance(node, list):
        return [_clean(v) for v in node]
    if isinstance(node, str) and len(node) >= 2 and node[0] == node[-1] == '"':
        return node[1:-1]
    return node


def _blocks(parsed: dict[str, Any], kind: str) -> dict[str, Any]:
    """Merge the labelled blocks of one kind (resource, data, variable) into one dict."""
    merged: dict[str, Any] = {}
    for block in parsed.get(kind, []):
        for label, body in block.items():
            if isinstance(body, dict) and kind in ("resource", "data"):
                for name, inner in body.items():
                    merged[f"{label}.{name}"] = inner
            else:
                merged[label] = body
    return merged


@pytest.fixture(scope="module")
def tf() -> dict[str, dict[str, Any]]:
    """Every terraform/*.tf file parsed (python-hcl2) and cleaned, by stem."""
    parsed = {}
    for path in sorted(TERRAFORM.glob("*.tf")):
        with path.open() as handle:
            parsed[path.stem] = _clean(hcl2.load(handle))
    return parsed


@pytest.fixture(scope="module")
def tf_text() -> str:
    """All terraform sources as one string, for reference scans."""
    return "\n".join(p.read_text() for p in sorted(TERRAFORM.glob("*.tf")))


def _all(tf: dict[str, dict[str, Any]], kind: str) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for parsed in tf.values():
        merged.update(_blocks(parsed, kind))
    return merged


def _locals(tf: dict[str, dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for parsed in tf.values():
        for block in parsed.get("locals", []):
            merged.update(block)
    return merged


def test_terraform_is_split_into_one_parsable_file_per_concern(tf):
    assert set(CONCERNS) <= set(tf), f"missing files: {set(CONCERNS) - set(tf)}"
    for stem, parsed in tf.items():
        assert parsed, f"terraform/{stem}.tf parsed to nothing"


def test_every_variable_is_typed_and_described(tf):
    variables = _blocks(tf["variables"], "variable")
    assert len(variables) > 10
    for other in set(tf) - {"variables"}:
        assert not _blocks(tf[other], "variable"), f"variables belong in variables.tf ({other}.tf)"
    for name, body in variables.items():
        assert body.get("type"), f"variable {name} has no type"
        description = body.get("description", "")
        assert len(description) >= 15, f"variable {name} needs a real description"


def test_providers_and_terraform_are_pinned(tf):
    settings = tf["versions"]["terraform"][0]
    assert "< 2.0.0" in settings["required_version"]
    for name, spec in settings["required_providers"][0].items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", spec["version"]), f"provider {name} not pinned"


def test_every_reference_resolves_and_every_variable_is_used(tf, tf_text):
    """A poor man's `terraform validate`: var., local., resource and data references exist."""
    declared_vars = set(_blocks(tf["variables"], "variable"))
    used_vars = set(re.findall(r"\bvar\.([a-z0-9_]+)", tf_text))
    assert used_vars <= declared_vars, f"undeclared variables: {used_vars - declared_vars}"
    assert declared_vars <= used_vars, f"unused variables: {declared_vars - used_vars}"

    declared_locals = set(_locals(tf))
    used_locals = set(re.findall(r"\blocal\.([a-z0-9_]+)", tf_text))
    assert used_locals <= declared_locals, f"undeclared locals: {used_locals - declared_locals}"

    resources, data = set(_all(tf, "resource")), set(_all(tf, "data"))
    for match in re.finditer(r"(?<![\w.])(data\.)?(aws_[a-z0-9_]+)\.([a-z0-9_]+)", tf_text):
        ref = f"{match.group(2)}.{match.group(3)}"
        assert ref in (data if match.group(1) else resources), f"unknown reference {match[0]}"


def test_each_shard_is_its_own_task_schedule_and_state_id(tf):
    """One task definition and one schedule per shard, each with its own state id suffix."""
    resources = _all(tf, "resource")
    local = _locals(tf)
    assert "var.shards" in local["shards"]
    assert "s.name" in local["shards"]
    assert resources["aws_ecs_task_definition.ingest"]["for_each"] == "${local.shards}"
    assert resources["aws_scheduler_schedule.ingest"]["for_each"] == "${local.shards}"
    assert "MELTANO_RUN_STATE_ID_SUFFIX = name" in local["shard_environment"]
    validations = _blocks(tf["variables"], "variable")["shards"]["validation"]
    assert any("distinct([for s in var.shards : s.name])" in v["condition"] for v in validations)


def _granted_glue_actions(tf: dict[str, dict[str, Any]], name: str) -> set[str]:
    """The glue: actions a role's policy document grants."""
    statements = _all(tf, "data")[f"aws_iam_policy_document.{name}"]["statement"]
    return {a for s in statements for a in s["actions"] if a.startswith("glue:")}


@pytest.fixture
def glue_calls(monkeypatch) -> list[str]:
    """Every Glue API call any boto3 client makes during the test (the calls still happen)."""
    from botocore.client import BaseClient

    calls: list[str] = []
    real = BaseClient._make_api_call  # noqa: SLF001 (botocore's one funnel of every API call)

    def recording(self, operation_name, api_params):
        if self.meta.service_model.service_name == "glue":
            calls.append(f"glue:{operation_name}")
        return real(self, operation_name, api_params)

    monkeypatch.setattr(BaseClient, "_make_api_call", recording)
    return calls


@pytest.mark.slow
def test_task_roles_grant_every_glue_call_the_target_and_check_make(tf, glue_calls):
    """The real Glue path against moto: creating, appending to and reading trades_unified."""
    import boto3
    from schemahub_core.testing import moto_server
    from target_s3_parquet.synthetic import trade_lines
    from target_s3_parquet.testing import make_glue_output, run_in_process

    with moto_server() as endpoint:
        output = make_glue_output(endpoint)
        glue = output.config["iceberg_catalog"]
        # terraform creates the database; the target creates the table at its first commit.
        # moto's backends are per process, shared by every moto server of this pytest run:
        # start from a database without the table whatever an earlier test left there.
        client = boto3.client("glue", endpoint_url=endpoint)
        database = _locals(tf)["glue_database"]
        with contextlib.suppress(client.exceptions.AlreadyExistsException):
            client.create_database(DatabaseInput={"Name": database})
        with contextlib.suppress(client.exceptions.EntityNotFoundException):
            client.delete_table(DatabaseName=database, Name="trades_unified")
        glue_calls.clear()
        run_in_process(output.config, trade_lines("binance_trades", "BTCUSDT", 1, 50))
        run_in_process(output.config, trade_lines("binance_trades", "BTCUSDT", 40, 90))
        writer = set(glue_calls)
        glue_calls.clear()
        report = check.check_unified_table(
            output.uri, s3_endpoint_url=endpoint, iceberg_catalog=glue
        )
        reader = set(glue_calls)
    assert report.symbols[0].rows == 90
    assert {"glue:CreateTable", "glue:UpdateTable"} <= writer
    assert writer <= _granted_glue_actions(tf, "ingest_task")
    assert reader
    assert reader <= _granted_glue_actions(tf, "check_task")
    resources = _locals(tf)["iceberg_glue_resources"]
    assert any(r.endswith("table/${local.glue_database}/trades_unified") for r in resources)
    assert not any(r.endswith(("/*", ":*")) for r in resources), "Glue grants must be scoped"


def test_glue_database_is_the_targets_iceberg_namespace(tf):
    from schemahub_core.iceberg import NAMESPACE

    assert _locals(tf)["glue_database"] == NAMESPACE
    resources = _all(tf, "resource")
    assert "aws_glue_catalog_table.trades_unified" not in resources, (
        "trades_unified is the target's Iceberg table (created at its first commit), not a "
        "terraform-declared Hive table"
    )


def _json_schema_glue_type(prop: dict[str, Any]) -> str:
    types = prop["type"] if isinstance(prop["type"], list) else [prop["type"]]
    kind = next(t for t in types if t != "null")
    return {"integer": "bigint", "string": "string", "boolean": "boolean", "number": "double"}[kind]


@pytest.mark.parametrize(
    ("stream", "module"),
    [
        ("coinbase_trades", "tap_coinbase.streams"),
        ("binance_trades", "tap_binance.streams"),
        ("kraken_trades", "tap_kraken.streams"),
    ],
)
def test_raw_glue_tables_match_the_taps_stream_schemas(tf, stream, module):
    """The raw tables read the records exactly as the taps emit them (+ the target's _sdc_*)."""
    streams = importlib.import_module(module)
    stream_class = next(
        c
        for c in vars(streams).values()
        if isinstance(c, type) and getattr(c, "name", "") == stream
    )
    expected = {
        name.lower(): _json_schema_glue_type(prop)
        for name, prop in stream_class.schema["properties"].items()
    }
    expected |= {"_sdc_extracted_at": "string", "_sdc_received_at": "string"}
    columns = {c["name"]: c["type"] for c in _locals(tf)["raw_streams"][stream]}
    assert columns == expected
    assert _all(tf, "resource")["aws_glue_catalog_table.raw"]["name"] == "raw_jsonl_${each.key}"


def _ensure_checkov() -> Path:
    """Build .venv-checkov through the Makefile (once per machine) and return its checkov."""
    checkov = CHECKOV_VENV / "bin" / "checkov"
    if not (CHECKOV_VENV / ".installed").exists():
        subprocess.run(
            ["make", "-C", str(ROOT), ".venv-checkov/.installed"], check=True, timeout=900
        )
    return checkov


@pytest.mark.slow
@pytest.mark.timeout(1200)
@pytest.mark.parametrize(
    ("framework", "target", "min_passed"),
    [("terraform", ["-d", "terraform"], 100), ("dockerfile", ["-f", "Dockerfile"], 10)],
)
def test_checkov_finds_no_failed_check(framework, target, min_passed):
    checkov = _ensure_checkov()
    # Offline: no Bridgecrew/Prisma mapping download, no policy download.
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "LOG_LEVEL": "ERROR"}
    result = subprocess.run(
        [str(checkov), *target, "--framework", framework, "--skip-download", "--output", "json"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert result.stdout.strip(), f"checkov printed nothing; stderr:\n{result.stderr[-3000:]}"
    report = json.loads(result.stdout)
    assert report["check_type"] == framework
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}"
        for c in report["results"]["failed_checks"]
    ]
    assert not failed, "checkov failed checks:\n" + "\n".join(failed)
    assert report["summary"]["parsing_errors"] == 0
    assert report["summary"]["passed"] >= min_passed, "checkov checked far less than expected"
    for skipped in report["results"]["skipped_checks"]:
        reason = skipped["check_result"].get("suppress_comment", "")
        assert len(reason.strip()) >= 15, f"skip of {skipped['check_id']} needs a reason"
    assert result.returncode == 0, result.stderr[-3000:]


# ---- contracts with the Meltano project and schemahub-core ----


def test_tasks_set_only_settings_jobs_and_variables_the_meltano_project_declares(tf, tf_text):
    """TAP_*/TARGET_* variables are declared, non-decimal settings; jobs and prod's $VARs exist."""
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    plugins = [p for kind in project["plugins"].values() for p in kind]
    for env_var in sorted(set(re.findall(r"\b((?:TAP|TARGET)_[A-Z0-9_]+)\b", tf_text))):
        plugin = next(
            (p for p in plugins if env_var.startswith(p["name"].upper().replace("-", "_") + "_")),
            None,
        )
        assert plugin, f"{env_var} names no plugin of meltano.yml"
        setting = env_var.removeprefix(plugin["name"].upper().replace("-", "_") + "_").lower()
        kinds = {s["name"]: s.get("kind", "string") for s in plugin["settings"]}
        assert setting in kinds, f"{env_var}: no such setting"
        # Meltano 4.4 fails to write a `decimal` setting whose value came from the environment.
        assert kinds[setting] != "decimal", f"{env_var}: decimal settings cannot come from env"

    jobs = {job["name"] for job in project["jobs"]}
    assert set(_locals(tf)["shard_job"].values()) <= jobs
    prod = next(e for e in project["environments"] if e["name"] == "prod")
    wanted = set(re.findall(r"\$\{?([A-Z][A-Z0-9_]*)", json.dumps(prod)))
    assert wanted <= set(_locals(tf)["common_environment"]), "prod needs variables tasks lack"


def _check_task_command(text: str) -> list[str]:
    """The check container's command from compute.tf, references replaced by sample values."""
    samples = {
        "local.output_uri": "s3://bucket/lake",
        "var.freshness_threshold_seconds": "7200",
        "var.aws_region": "eu-west-1",
        "var.metric_namespace": "SchemaHub",
    }
    body = re.search(r'entryPoint\s*=\s*\["schemahub"\]\s*command\s*=\s*\[(.*?)\]', text, re.S)
    assert body, 'compute.tf: the check task must run entryPoint ["schemahub"] with a command'
    items = [item.strip() for item in body.group(1).split(",") if item.strip()]
    substitute = lambda m: samples[m.group(1)]  # noqa: E731
    return [
        re.sub(r"\$\{([a-z_.]+)\}", substitute, item[1:-1])
        if item.startswith('"')
        else samples[item]
        for item in items
    ]


def test_check_task_command_is_accepted_by_schemahub_check():
    parser = argparse.ArgumentParser()
    check.add_arguments(parser)
    command = _check_task_command((TERRAFORM / "compute.tf").read_text())
    assert command[0] == "check"
    args = parser.parse_args(command[1:])
    assert args.output_uri == "s3://bucket/lake"
    assert args.max_age == 7200.0
    assert args.publish_cloudwatch == "SchemaHub"
    scripts = tomllib.loads((ROOT / "schemahub-core" / "pyproject.toml").read_text())
    assert scripts["project"]["scripts"]["schemahub"] == "schemahub_core.cli:main"


def test_quality_alarms_watch_metrics_that_schemahub_check_publishes(tf, tmp_path):
    """Run the real check on a small table; each alarm's metric must be among its datums."""
    folder = tmp_path / "unified" / UNIFIED_TABLE / "exchange=COINBASE" / "symbol=BTC-USD"
    (folder / "date=2026-01-01").mkdir(parents=True)
    ts = pa.array([1_767_225_600_000_000, 1_767_225_601_000_000], pa.timestamp("us", tz="UTC"))
    columns = {"base_asset": ["BTC"] * 2, "quote_asset": ["USD"] * 2, "trade_id": ["1", "2"]}
    columns |= {"side": ["BUY", "SELL"], "price": [1.0, 2.0], "quantity": [3.0, 4.0]}
    table = pa.table({**columns, "trade_ts": ts, "ingest_ts": ts}, schema=FILE_SCHEMA)
    pq.write_table(table, folder / "date=2026-01-01" / "part-0.parquet")
    report = check.check_unified_table(str(tmp_path), max_age_seconds=3600.0)
    assert report.symbols
    assert report.symbols[0].rows == 2
    table_wide = {
        d["MetricName"] for d in check.cloudwatch_metric_data(report) if not d.get("Dimensions")
    }

    variables = _blocks(tf["variables"], "variable")
    assert variables["metric_namespace"]["default"] == check.DEFAULT_NAMESPACE
    from_logs = {"FailedTasks", *_locals(tf)["log_metric_filters"]}
    watched = set()
    for name, alarm in _all(tf, "resource").items():
        if (
            name.startswith("aws_cloudwatch_metric_alarm.")
            and alarm["namespace"] == "${var.metric_namespace}"
        ):
            assert "dimensions" not in alarm, f"{name}: check's table-wide metrics have none"
            if "${" not in alarm["metric_name"] and alarm["metric_name"] not in from_logs:
                watched.add(alarm["metric_name"])
    assert watched == {"FreshnessSeconds", "HealthScore", "DuplicateTradeIds"}
    assert watched <= table_wide


def _cloudwatch_matches(pattern: str, line: str) -> bool:
    """CloudWatch Logs term matching for patterns made only of quoted terms (all must occur)."""
    assert not re.sub(r'"[^"]*"', "", pattern).strip(), f"unquoted terms in {pattern!r}"
    return all(term in line for term in re.findall(r'"([^"]*)"', pattern))


def test_log_metric_filters_count_exactly_what_schemahub_core_logs(tf):
    lines = {
        "HttpThrottled": [metrics.format_metric("counter", metrics.HTTP_THROTTLED_COUNT, 1, {})],
        "HttpServerErrors": [
            metrics.format_metric("counter", metrics.HTTP_SERVER_ERROR_COUNT, 1, {})
        ],
    }
    normal = metrics.format_metric(
        "timer", metrics.HTTP_REQUEST_DURATION, 0.2, {metrics.TAG_HTTP_STATUS_CODE: 200}
    )
    # A real breaker through a whole cycle: CLOSED -> OPEN -> HALF_OPEN -> OPEN -> HALF_OPEN ->
    # CLOSED, each log line recorded with the state the breaker entered.
    records: list[tuple[str, BreakerState]] = []
    logger = logging.getLogger("test_terraform.breaker")
    logger.setLevel(logging.INFO)
    handler = logging.Handler()
    handler.emit = lambda r: records.append((r.getMessage(), breaker.state))  # type: ignore[method-assign]
    logger.addHandler(handler)
    now = [0.0]
    breaker = CircuitBreaker("coinbase", 2, 10.0, 1, clock=lambda: now[0], logger=logger)
    for _ in range(2):
        breaker.record_failure(breaker.before_request(), reason="HTTP 503")
    now[0] = 11.0
    breaker.record_failure(breaker.before_request(), reason="HTTP 503")
    now[0] = 22.0
    breaker.record_success(breaker.before_request())
    logger.removeHandler(handler)
    assert [state for _, state in records] == [
        BreakerState.OPEN,
        BreakerState.HALF_OPEN,
        BreakerState.OPEN,
        BreakerState.HALF_OPEN,
        BreakerState.CLOSED,
    ]
    openings = [message for message, state in records if state is BreakerState.OPEN]
    lines["BreakerOpenings"] = openings

    filters = _locals(tf)["log_metric_filters"]
    assert set(filters) == set(lines)
    for name, spec in filters.items():
        pattern = spec["pattern"].replace('\\"', '"')
        assert all(_cloudwatch_matches(pattern, line) for line in lines[name]), name
        others = [normal, *(line for other, ls in lines.items() if other != name for line in ls)]
        others += [message for message, state in records if state is not BreakerState.OPEN]
        assert not any(_cloudwatch_matches(pattern, line) for line in others), name


def _s3_grants(tf: dict[str, dict[str, Any]], policy: str, action: str) -> list[str]:
    """Object ARN patterns a role's policy document grants `action` on, references resolved."""
    values = {"aws_s3_bucket.data.arn": "arn:aws:s3:::bucket"}
    values |= {f"local.{k}": v for k, v in _locals(tf).items() if k.endswith("_prefix")}
    values["local.glue_database"] = _locals(tf)["glue_database"]
    document = _all(tf, "data")[f"aws_iam_policy_document.{policy}"]
    return [
        re.sub(r"\$\{([a-z0-9_.]+)\}", lambda m: values[m.group(1)], resource)
        for statement in document["statement"]
        if action in statement["actions"]
        for resource in statement["resources"]
    ]


def _granted(patterns: list[str], key: str) -> bool:
    return any(fnmatch.fnmatchcase(f"arn:aws:s3:::bucket/{key}", p) for p in patterns)


def test_tasks_may_delete_only_the_targets_staged_files(tf):
    lake = _locals(tf)["lake_prefix"]
    deletable = _s3_grants(tf, "ingest_task", "s3:DeleteObject")
    assert _granted(deletable, f"{lake}/{unified.STAGING_PREFIX}/exchange=X/symbol=Y/f.parquet")
    for kept in (unified.UNIFIED_PREFIX, unified.COMMITS_PREFIX, "raw/coinbase_trades"):
        assert not _granted(deletable, f"{lake}/{kept}/exchange=X/symbol=Y/f"), kept
    writable = _s3_grants(tf, "ingest_task", "s3:PutObject")
    for prefix in (unified.UNIFIED_PREFIX, unified.COMMITS_PREFIX, unified.STAGING_PREFIX, "raw"):
        assert _granted(writable, f"{lake}/{prefix}/x")
    warehouse = f"{lake}/{_locals(tf)['glue_database']}/trades_unified"
    assert _granted(deletable, f"{warehouse}/metadata/00001-x.metadata.json")
    assert not _granted(deletable, f"{warehouse}/data/exchange=X/symbol=Y/f.parquet")
    assert _granted(writable, f"{warehouse}/data/exchange=X/symbol=Y/f.parquet")
    readable_by_check = _s3_grants(tf, "check_task", "s3:GetObject")
    assert _granted(readable_by_check, f"{warehouse}/data/exchange=X/f.parquet")
    assert _granted(readable_by_check, f"{lake}/{unified.UNIFIED_PREFIX}/exchange=X/f.parquet")
    assert not _granted(readable_by_check, f"{lake}/raw/coinbase_trades/x.jsonl.gz")
    assert not _granted(readable_by_check, f"{_locals(tf)['state_prefix']}/x")


def test_wildcards_only_where_aws_offers_nothing_narrower(tf):
    """Resource "*" only for actions without resource-level permissions; Allow never to "*"."""
    # CloudWatch Logs' log delivery (Step Functions execution logs) has no resource level.
    log_delivery = {
        f"logs:{verb}"
        for verb in (
            "CreateLogDelivery",
            "GetLogDelivery",
            "UpdateLogDelivery",
            "DeleteLogDelivery",
            "ListLogDeliveries",
            "PutResourcePolicy",
            "DescribeResourcePolicies",
            "DescribeLogGroups",
        )
    }
    unscoped_actions = {"ecr:GetAuthorizationToken", "cloudwatch:PutMetricData", *log_delivery}
    documents = {k: v for k, v in _all(tf, "data").items() if k.startswith("aws_iam_policy_doc")}
    assert len(documents) >= 8
    for name, document in documents.items():
        for statement in document["statement"]:
            allow = statement.get("effect", "Allow") == "Allow"
            resources = statement.get("resources", [])  # a list, or one HCL expression
            if "*" in (resources if isinstance(resources, list) else [resources]):
                assert set(statement["actions"]) <= unscoped_actions, f"{name}: {statement}"
                if "cloudwatch:PutMetricData" in statement["actions"]:
                    assert statement.get("condition"), f"{name}: bind PutMetricData's namespace"
            if allow:
                assert not any(a.endswith(":*") or a == "*" for a in statement["actions"]), name
                for principal in statement.get("principals", []):
                    assert "*" not in principal["identifiers"], f"{name} allows anyone"


# ---- issue 15: backfill fan-out and table maintenance by Glue's optimizers ----


def test_backfill_runs_one_ingest_task_per_shard_under_its_own_state_id(tf):
    """A Map state over the input's shards, one ECS task each (run and waited for), with the
    shard's products, start date and a backfill-<name> state id suffix, for every exchange."""
    local = _locals(tf)
    resources = _all(tf, "resource")
    machine = resources["aws_sfn_state_machine.backfill"]
    assert machine["definition"] == "${jsonencode(local.backfill_definition)}"
    assert machine["role_arn"] == "${aws_iam_role.backfill.arn}"
    definition = local["backfill_definition"]
    fan_out = definition["States"][definition["StartAt"]]
    assert fan_out["Type"] == "Map"
    assert fan_out["ItemsPath"] == "$.shards"
    assert fan_out["MaxConcurrency"] == "${var.backfill_max_concurrency}"
    assert "local.backfill_task_states" in fan_out["ItemProcessor"]["States"]
    assert "Choices" in fan_out["ItemProcessor"]["States"]
    # One task state per exchange kind the scheduled shards know, routed by $.exchange.
    assert local["backfill_exchanges"] == "${keys(local.shard_job)}"
    assert resources["aws_ecs_task_definition.backfill"]["for_each"] == (
        "${toset(local.backfill_exchanges)}"
    )
    task_states = local["backfill_task_states"]
    assert "ecs:runTask.sync" in task_states  # waits for the task: a failed shard fails
    assert "aws_ecs_task_definition.backfill[kind].arn" in task_states
    assert "Name = local.shard_products_setting[kind]" in task_states
    assert "Name = local.shard_start_date_setting[kind]" in task_states
    assert "States.Format('backfill-{}', $.name)" in task_states
    assert "MELTANO_RUN_STATE_ID_SUFFIX" in task_states
    assert "MaxAttempts = var.backfill_shard_retries" in task_states
    assert set(local["shard_start_date_setting"]) == set(local["shard_job"])
    # (test_tasks_set_only_settings_jobs_and_variables_the_meltano_project_declares checks
    # that these TAP_* names are settings of the taps.)
    # The backfill container is the scheduled shards' container with the exchange's job.
    container = resources["aws_ecs_task_definition.backfill"]["container_definitions"]
    assert "local.meltano_container" in container
    assert 'command = ["run", local.shard_job[each.key]]' in container
    assert (
        "local.meltano_container"
        in resources["aws_ecs_task_definition.ingest"]["container_definitions"]
    )


def test_scheduled_shards_cannot_take_a_backfill_state_id(tf):
    validations = _blocks(tf["variables"], "variable")["shards"]["validation"]
    assert any('!startswith(s.name, "backfill-")' in v["condition"] for v in validations)


def test_backfill_role_runs_only_the_backfill_tasks_on_our_cluster(tf):
    statements = {
        s["sid"]: s for s in _all(tf, "data")["aws_iam_policy_document.backfill"]["statement"]
    }
    run = statements["RunTheBackfillTaskDefinitionsOnOurCluster"]
    assert run["actions"] == ["ecs:RunTask"]
    assert "aws_ecs_task_definition.backfill" in run["resources"]
    assert "aws_ecs_task_definition.ingest" not in str(run["resources"])
    assert run["condition"][0]["values"] == ["${aws_ecs_cluster.main.arn}"]
    passed = statements["PassOnlyTheIngestRoles"]
    assert passed["resources"] == [
        "${aws_iam_role.execution.arn}",
        "${aws_iam_role.ingest_task.arn}",
    ]
    assert passed["condition"][0]["values"] == ["ecs-tasks.amazonaws.com"]
    watch = statements["WatchAndStopTasksOnOurCluster"]["resources"][0]
    assert watch.endswith("task/${aws_ecs_cluster.main.name}/*")
    rule = statements["ManageTheEcsTaskStateRule"]["resources"][0]
    assert rule.endswith("rule/StepFunctionsGetEventsForECSTaskRule")


def test_glue_optimizers_compact_expire_and_remove_orphans_of_the_listed_tables(tf):
    """Three optimizers per listed table; retention never undercuts the target's own
    snapshot reach; orphans only past a grace period; off until the tables exist."""
    from target_s3_parquet.snapshot_expiry import KEEP_SNAPSHOTS

    local = _locals(tf)
    optimizer = _all(tf, "resource")["aws_glue_catalog_table_optimizer.iceberg"]
    assert optimizer["for_each"] == "${local.table_optimizers}"
    assert local["table_optimizer_types"] == ["compaction", "retention", "orphan_file_deletion"]
    assert (
        "setproduct(var.table_optimizer_tables, local.table_optimizer_types)"
        in (local["table_optimizers"])
    )
    assert local["snapshots_to_retain"] >= KEEP_SNAPSHOTS
    configuration = optimizer["configuration"][0]
    assert configuration["role_arn"] == "${aws_iam_role.table_optimizer[0].arn}"
    retention = configuration["dynamic"][0]["retention_configuration"]["content"][0]
    settings = retention["iceberg_configuration"][0]
    assert settings["number_of_snapshots_to_retain"] == "${local.snapshots_to_retain}"
    assert settings["clean_expired_files"] is True
    orphans = configuration["dynamic"][1]["orphan_file_deletion_configuration"]["content"][0]
    orphan_settings = orphans["iceberg_configuration"][0]
    assert orphan_settings["location"].endswith("/${local.glue_database}/${each.value.table}")
    variables = _blocks(tf["variables"], "variable")
    assert variables["table_optimizer_tables"]["default"] == []  # the target creates them first
    assert (
        "orphan_file_retention_days >= 1"
        in variables["orphan_file_retention_days"]["validation"][0]["condition"]
    )


def test_optimizer_role_rewrites_only_the_optimized_tables(tf):
    """The role may delete files of the optimized tables only: never the raw trail or state."""
    local = _locals(tf)
    lake, database = local["lake_prefix"], local["glue_database"]
    document = _all(tf, "data")["aws_iam_policy_document.table_optimizer"]
    statements = {s["sid"]: s for s in document["statement"]}
    rewrite = statements["RewriteOnlyTheOptimizedTables"]
    assert "s3:DeleteObject" in rewrite["actions"]
    assert (
        rewrite["resources"]
        == '${[for p in local.optimized_table_prefixes : "${aws_s3_bucket.data.arn}/${p}/*"]}'
    )
    prefixes = local["optimized_table_prefixes"]
    assert '"${local.lake_prefix}/${local.glue_database}/${t}"' in prefixes
    assert "for t in var.table_optimizer_tables" in prefixes
    # The location the optimizers clean is where the target puts the table.
    from schemahub_core import iceberg as catalogs

    location = catalogs.table_location({"warehouse": f"s3://b/{lake}"}, catalogs.UNIFIED_IDENTIFIER)
    assert location == f"s3://b/{lake}/{database}/trades_unified"
    assert statements["CommitToTheOptimizedTables"]["actions"] == [
        "glue:GetDatabase",
        "glue:GetTable",
        "glue:UpdateTable",
    ]
    log_groups = local["table_optimizer_log_groups"]
    assert ":log-group:/aws-glue/${kind}/logs:*" in log_groups
    for kind in ("iceberg-compaction", "iceberg-retention", "iceberg-orphan-file-deletion"):
        assert f'"{kind}"' in log_groups
