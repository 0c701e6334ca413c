# Two entry points for a fresh machine: `make test` and `make run` (see README.md).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Every package folder with a pyproject.toml is installed editable with its test extras.
PACKAGES := $(patsubst %/pyproject.toml,%,$(wildcard */pyproject.toml))
STAMP := $(VENV)/.installed
# Meltano pins SQLAlchemy and friends differently from the plugins: it lives in its own
# virtualenv (and builds one per plugin itself); tests/ and scripts/ find it there.
MELTANO_VENV := .venv-meltano
# checkov pins versions of packages Meltano also needs, so it gets its own virtualenv too.
CHECKOV_VENV := .venv-checkov
PYTEST_ARGS ?=

.PHONY: test run demo lint format install clean browser

$(STAMP): $(wildcard */pyproject.toml) requirements-dev.txt Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(foreach p,$(PACKAGES),-e "./$(p)[test]") -r requirements-dev.txt
	test -x $(MELTANO_VENV)/bin/python || $(PYTHON) -m venv $(MELTANO_VENV)
	$(MELTANO_VENV)/bin/python -m pip install -q "meltano[s3]~=4.4"
	touch $(STAMP)

install: $(STAMP)

# ruff's rule selection (and the rules left out, with why) is in pyproject.toml; mypy checks
# the src/ folder of every package.
lint: $(STAMP)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy $(wildcard */src)

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Debian's chromium, for the browser test of `schemahub report` (tests/test_report_browser.py).
# Installed only when missing: CI runs as root on a fresh Debian machine.
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium

browser: $(CHROMIUM)

# Lint, then the whole suite; pytest exits 5 (a failure) when nothing was collected.
test: lint $(CHECKOV_VENV)/.installed $(CHROMIUM)
	$(PY) -m pytest --junitxml=.ci-report.xml $(PYTEST_ARGS)

# Live exchanges into ./output; stops with one line pointing to `make demo` when offline.
run: $(STAMP)
	@$(PY) scripts/pipeline.py run

# Offline: both simulators, two ingest-all runs (cold start, incremental), check, query.
demo: $(STAMP)
	@$(PY) scripts/pipeline.py demo

clean:
	rm -rf $(VENV) $(MELTANO_VENV) $(CHECKOV_VENV) .pytest_cache .mypy_cache .ruff_cache .ci-report.xml

# ---- deployment (issue 8): container image and terraform checks ----
.PHONY: image checkov
IMAGE ?= schemahub
IMAGE_TAG ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo dev)

# Needs a Docker engine (none on the CI machine: tests/test_dockerfile.py lints the Dockerfile).
image:
	docker build -t $(IMAGE):$(IMAGE_TAG) .

# checkov pins versions of packages Meltano also needs, so it gets its own virtualenv.
$(CHECKOV_VENV)/.installed: terraform/requirements-checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install -q -r terraform/requirements-checkov.txt
	touch $@

# BC_SKIP_MAPPING + --skip-download: fully offline, no Bridgecrew/Prisma API calls.
checkov: $(CHECKOV_VENV)/.installed
	BC_SKIP_MAPPING=TRUE $(CHECKOV_VENV)/bin/checkov -d terraform --framework terraform --skip-download --compact --quiet
	BC_SKIP_MAPPING=TRUE $(CHECKOV_VENV)/bin/checkov -f Dockerfile --framework dockerfile --skip-download --compact --quiet
