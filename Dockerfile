# SchemaHub: the Meltano project with its plugins installed at build time.
# Ingest tasks run `meltano run <job>` (ENTRYPOINT meltano); the quality-check task overrides
# the entrypoint with `schemahub check ...` (terraform/compute.tf). Build: `make image`.
# Secrets never enter the image: tasks receive settings and the Binance key as environment
# variables at run time, and credentials come from the ECS task role.
#checkov:skip=CKV_DOCKER_2: batch tasks, not a service; ECS tracks the exit code instead of a HEALTHCHECK
FROM python:3.11.13-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_NO_CACHE=1 \
    MELTANO_SEND_ANONYMOUS_USAGE_STATS=false \
    PATH=/opt/meltano/bin:/opt/schemahub/bin:$PATH

RUN groupadd --gid 10001 schemahub \
    && useradd --uid 10001 --gid schemahub --no-log-init --create-home schemahub

# Meltano with the S3 state backend; it brings uv, which meltano.yml selects as venv backend.
RUN python -m venv /opt/meltano \
    && /opt/meltano/bin/pip install "meltano[s3]==4.4.1"

WORKDIR /project
# Sources stay root-owned and read-only for the runtime user; only .meltano/ is writable.
COPY meltano.yml ./
COPY mappings/ mappings/
COPY logging/ logging/
COPY schemahub-core/ schemahub-core/
COPY tap-coinbase/ tap-coinbase/
COPY tap-binance/ tap-binance/
COPY tap-kraken/ tap-kraken/
COPY target-s3-parquet/ target-s3-parquet/

# The `schemahub` command (check, query) for the quality-check task, in its own virtualenv.
RUN python -m venv /opt/schemahub \
    && /opt/schemahub/bin/pip install "./schemahub-core[query]" "boto3>=1.35,<2" \
    && mkdir /project/.meltano \
    && chown schemahub:schemahub /project/.meltano

USER schemahub
# Every plugin virtualenv (pip_url in meltano.yml) and Meltano's system database are built now,
# so a task starts running at once and never needs PyPI at run time.
RUN meltano install

ENTRYPOINT ["meltano"]
CMD ["run", "ingest-all"]
