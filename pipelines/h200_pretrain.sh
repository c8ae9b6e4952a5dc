#!/usr/bin/env bash
# `dnaconv pretrain` on the H200s (device tool, kind nvidia-h200-x2): one GPU, then two GPUs under torchrun,
# same config and global batch; tokens/s, MFU and the loss curves of both.
#   bash pipelines/h200_pretrain.sh [STEPS]
# Expects (carried, git-ignored): .whl/{pysam,datasets,dill,multiprocess}-*.whl, .devdata/GRCh37.chr20.fa.gz*.
set -uo pipefail
STEPS=${1:-120}
source pipelines/h200_setup.sh
python3 -c 'import pyarrow, huggingface_hub; print("pyarrow", pyarrow.__version__, "hub", huggingface_hub.__version__)'
dnaconv shard .devdata/GRCh37.chr20.fa.gz --length 8192 --held-out valid=20:55000001-56000000 \
  --held-out test=20:56000001-60000000 --manifest grch37_chr20 -o /tmp/shards -q || exit 1
CFG=pipelines/configs/chr20_d128.json
CUDA_VISIBLE_DEVICES=0 timeout 200 dnaconv pretrain --data /tmp/shards --config $CFG --out /tmp/run1 \
  --max-steps "$STEPS" 2>&1 | tail -3
cp /tmp/run1/metrics.jsonl "$OUT/metrics_1gpu.jsonl"
timeout 200 torchrun --standalone --nproc-per-node 2 -m dnaconv.cli pretrain --data /tmp/shards --config $CFG \
  --out /tmp/run2 --max-steps "$STEPS" 2>&1 | grep -v Warning | tail -3
cp /tmp/run2/metrics.jsonl "$OUT/metrics_2gpu.jsonl"
cp /tmp/run2/curves.png "$OUT/curves_2gpu.png" 2>/dev/null
python3 - "$OUT" <<'PY'
import json, sys
for n in ("1gpu", "2gpu"):
    last = [json.loads(x) for x in open(f"{sys.argv[1]}/metrics_{n}.jsonl")][-1]
    print(n, "step", last["step"], "loss %.4f" % last["loss"], "valid_ppl", last.get("valid_ppl"),
          "tokens/s %.3g" % last["tokens_per_s"], "mfu", last["mfu"])
PY
