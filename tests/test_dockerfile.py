"""Lint of the root Dockerfile (there is no Docker engine here to build it): exact base tag,
non-root user, no secrets in layers, `meltano` entrypoint, and the Meltano project with every
plugin installed at build time. checkov's Dockerfile checks run in tests/test_terraform.py."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[1]
WORKDIR = "/project"
SECRET_NAME = re.compile(r"KEY|SECRET|TOKEN|PASSW|CREDENTIAL|AWS_ACCESS|AWS_SESSION", re.I)


def parse_dockerfile(text: str) -> list[tuple[str, str]]:
    """Return (INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pending += line[:-1].rstrip() + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            keyword, _, args = pending.partition(" ")
            instructions.append((keyword.upper(), args.strip()))
            pending = ""
    assert not pending, "Dockerfile ends inside a continued line"
    return instructions


@pytest.fixture(scope="module")
def instructions() -> list[tuple[str, str]]:
    """The root Dockerfile, parsed."""
    return parse_dockerfile((ROOT / "Dockerfile").read_text())


@pytest.fixture(scope="module")
def meltano_project() -> dict:
    """meltano.yml, the project the image carries."""
    return yaml.safe_load((ROOT / "meltano.yml").read_text())


def _args(instructions: list[tuple[str, str]], keyword: str) -> list[str]:
    return [args for kw, args in instructions if kw == keyword]


def test_parser_joins_continuations_and_drops_comments():
    parsed = parse_dockerfile("# c\nFROM a:1.2.3\nRUN x \\\n    && y\n# c\nUSER app\n")
    assert parsed == [("FROM", "a:1.2.3"), ("RUN", "x && y"), ("USER", "app")]


def test_base_image_is_pinned_to_an_exact_python_version(instructions):
    bases = _args(instructions, "FROM")
    assert bases, "no FROM"
    for base in bases:
        match = re.fullmatch(
            r"python:(\d+)\.(\d+)\.(\d+)-slim-[a-z]+(@sha256:[0-9a-f]{64})?(\s+AS\s+\w+)?", base
        )
        assert match, f"base image {base!r} is not pinned to an exact python:X.Y.Z-slim-<distro>"
    version = ".".join(match.groups()[:3])
    for pyproject in ROOT.glob("*/pyproject.toml"):
        requires = tomllib.loads(pyproject.read_text())["project"]["requires-python"]
        assert version in SpecifierSet(requires), f"{pyproject.parent.name} needs {requires}"


def test_runs_as_a_non_root_user_that_owns_only_the_meltano_dir(instructions):
    keywords = [kw for kw, _ in instructions]
    users = _args(instructions, "USER")
    assert users, "the image would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    created = re.compile(rf"useradd\b[^&;]*\s{re.escape(user)}(\s|$)")
    assert any(created.search(run) for run in _args(instructions, "RUN")), f"no useradd {user}"
    # The user switch happens before `meltano install`, so .meltano/ (venvs, system db) is its own.
    install = next(i for i, (kw, args) in enumerate(instructions) if "meltano install" in args)
    assert keywords.index("USER") < install
    assert not any("--chown" in args for args in _args(instructions, "COPY")), "sources stay root's"


def test_entrypoint_is_meltano_and_the_default_command_runs_a_job(instructions, meltano_project):
    assert [json.loads(e) for e in _args(instructions, "ENTRYPOINT")] == [["meltano"]]
    (cmd,) = [json.loads(c) for c in _args(instructions, "CMD")]
    assert cmd[0] == "run"
    assert len(cmd) == 2
    assert cmd[1] in {job["name"] for job in meltano_project["jobs"]}


def test_no_secret_enters_a_layer(instructions):
    for keyword in ("ENV", "ARG", "LABEL"):
        for args in _args(instructions, keyword):
            names = re.findall(r"(?:^|\s)([A-Za-z_][A-Za-z0-9_]*)=", args) or [args.split()[0]]
            for name in names:
                assert not SECRET_NAME.search(name), f"{keyword} {name}: secrets come at run time"
    for args in _args(instructions, "COPY") + _args(instructions, "ADD"):
        sources = args.split()[:-1]
        assert "." not in sources, "COPY the named folders, not everything"
        assert "./" not in sources, "COPY the named folders, not everything"
        assert not any(re.search(r"\.env|\.aws|\.pem|tfstate|tfvars", s) for s in sources), args
    ignored = (ROOT / ".dockerignore").read_text().split()
    for pattern in (".env", ".git", ".venv", ".meltano", "output", "**/*.tfstate", "**/*.tfvars"):
        assert pattern in ignored, f".dockerignore must exclude {pattern}"


def test_meltano_project_and_every_plugin_are_installed_at_build_time(
    instructions, meltano_project
):
    runs = " ".join(_args(instructions, "RUN"))
    pinned = re.search(r'"meltano\[s3\]==(\d+\.\d+\.\d+)"', runs)
    assert pinned, "meltano with the S3 state backend extra must be pip-installed, pinned"
    assert pinned.group(1) in SpecifierSet(meltano_project["requires_meltano"])
    assert "meltano install" in runs

    assert [w for w in _args(instructions, "WORKDIR")] == [WORKDIR]
    copied = {args.split()[0].rstrip("/") for args in _args(instructions, "COPY")}
    # Every local path a plugin installs from, plus the project file and the root mappings/
    # (schemahub-core's build force-includes ../mappings).
    local_paths = {"meltano.yml", "mappings"}
    for kind in meltano_project["plugins"].values():
        for plugin in kind:
            local_paths |= set(re.findall(r"\./([\w.-]+)", plugin["pip_url"]))
    assert local_paths <= copied, f"not copied into the image: {local_paths - copied}"


def test_schemahub_command_is_on_the_path_for_the_check_task(instructions):
    runs = " ".join(_args(instructions, "RUN"))
    venv = re.search(r"(/opt/\w+)/bin/pip install \"\./schemahub-core\[query\]\"", runs)
    assert venv, "schemahub-core[query] (DuckDB for `schemahub check`) must be installed"
    path = next(a for a in _args(instructions, "ENV") if "PATH=" in a)
    assert f"{venv.group(1)}/bin" in path
    assert "boto3" in runs, "`schemahub check --publish-cloudwatch` needs boto3"
