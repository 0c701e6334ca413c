#!/bin/bash
# The BATCH lane of bench_batch.py, alternating the sources of an older commit ("base") with
# the committed HEAD ("new"). Meltano drops PYTHONPATH for its plugins, so the base sources are
# checked out in place (schemahub-core, tap-binance, target-s3-parquet src/ only) and put back
# after each base run. Needs a clean working tree.
#   bash bench/ab_sources.sh BASE_COMMIT ROUNDS FORMAT      e.g. c32393f 2 hive
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=$1; ROUNDS=$2; FMT=$3
SRC="schemahub-core/src tap-binance/src target-s3-parquet/src"
if [ -n "$(git status --porcelain --untracked-files=no)" ]; then echo "commit first" >&2; exit 1; fi
restore() { git checkout -q HEAD -- $SRC; }
trap restore EXIT
run() { .venv/bin/python bench/bench_batch.py --days 6 --formats "$FMT" --lanes batch --rounds 1 2>&1 | grep "| $FMT" | tr -d '\n'; echo "  load $(cut -d' ' -f1 /proc/loadavg)"; }
for i in $(seq "$ROUNDS"); do
  git checkout -q "$BASE" -- $SRC; echo -n "base $i: "; run; restore
  echo -n "new  $i: "; run
done
