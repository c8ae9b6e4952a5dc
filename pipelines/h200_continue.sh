#!/usr/bin/env bash
# Continued training of the default model on the H200 through `dnaconv shard` + `dnaconv pretrain --init`,
# same chr20 split (valid 20:55-56 Mb, test 20:56-60 Mb held out); scores both regions before and after.
#   bash pipelines/h200_continue.sh [INIT_MODEL_DIR]    (default: the shipped model; stage 2 of the shipped
#                                                        model started from the stage-1 model)
# Expects (carried, git-ignored): .whl/{pysam,datasets,dill,multiprocess}-*.whl, .devdata/GRCh37.chr20.fa.gz*.
set -uo pipefail
INIT=${1:-dnaconv/default_model}
source pipelines/h200_setup.sh
dnaconv shard .devdata/GRCh37.chr20.fa.gz --length 8192 --held-out valid=20:55000001-56000000 \
  --held-out test=20:56000001-60000000 --manifest grch37_chr20 -o /tmp/shards -q || exit 1
timeout 330 dnaconv pretrain --data /tmp/shards --config pipelines/configs/chr20_d128_continue.json \
  --init "$INIT" --out /tmp/cont -q 2>&1 | tail -3
cp /tmp/cont/metrics.jsonl /tmp/cont/curves.png "$OUT/" 2>/dev/null
for m in "$INIT" /tmp/cont/final; do
  [ -d "$m" ] || continue
  echo "== $m"
  timeout 60 dnaconv score .devdata/GRCh37.chr20.fa.gz --region 20:55000001-56000000 --region 20:56000001-60000000 \
    --model "$m" --json 2>&1 | tail -2
done
[ -d /tmp/cont/final ] && cp -r /tmp/cont/final "$OUT/model"
