#!/usr/bin/env bash
# The foundation issue's GPU measurements, as run through the device tool on one H200:
#   bash pipelines/h200_foundation.sh smoke|full
# Expects (carried, git-ignored): .whl/pysam-*.whl and .devdata/GRCh37.chr20.fa.gz{,.fai,.gzi}.
# Writes logs, JSON and the trained model under $OUT.
set -euo pipefail
MODE=${1:-smoke}
OUT=${OUT:-/tmp/out}
export PYTHONUNBUFFERED=1 DNACONV_CHR20=$PWD/.devdata/GRCh37.chr20.fa.gz
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site
python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . 2>&1 | grep -v -i warn || true
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm --format=csv | tee "$OUT/gpu.txt"
python3 -c 'import torch, triton; print("torch", torch.__version__, "triton", triton.__version__)' | tee -a "$OUT/gpu.txt"
CHR20=.devdata/GRCh37.chr20.fa.gz
GENE=20:13850001-16150000  # 2.3 Mbp around MACROD2 (GRCh37), the longest gene on chr20

if [ "$MODE" = smoke ]; then
  python3 -m pytest -q -x tests -p no:cacheprovider 2>&1 | tail -5
  python3 -m dnaconv.pipelines.train_default_model $CHR20 --out "$OUT/model" --force --steps 40 --batch 64 \
    --length 8192 --eval-every 20 --test-limit 500000 2>&1 | tail -4
  /usr/bin/time -v dnaconv embed $CHR20 --region $GENE -o /tmp/gene.h5 --model "$OUT/model" 2>&1 \
    | grep -E "Wrote|Elapsed|Maximum resident|Error" || true
  exit 0
fi

# full: train the default model, then measure it
timeout 420 python3 -m dnaconv.pipelines.train_default_model $CHR20 --out "$OUT/model" --force \
  --steps 100000 --max-minutes "${TRAIN_MINUTES:-5}" --batch 64 --length 8192 --eval-every 250 \
  2> >(tee "$OUT/train.log" >&2) | true
tail -2 "$OUT/train.log"
for i in 1 2; do
  rm -f /tmp/gene.h5
  /usr/bin/time -f "wall %e s, max RSS %M KB" dnaconv embed $CHR20 --region $GENE -o /tmp/gene.h5 \
    --model "$OUT/model" 2>&1 | tr '\r' '\n' | grep -E "Wrote|wall" | tee -a "$OUT/embed_gene.txt"
done
python3 - <<'PY' | tee -a "$OUT/embed_gene.txt"
import h5py, numpy as np
f = h5py.File("/tmp/gene.h5"); g = f[list(f)[0]]; e = g["embedding"]
x = e[::1000].astype(np.float32)
print("dataset", e.shape, e.dtype, "pooled", g["pooled"].shape, "finite", bool(np.isfinite(x).all()),
      "std", float(x.std()), "root complete", bool(f.attrs["complete"]))
PY
rm -f /tmp/chr20.h5
/usr/bin/time -f "wall %e s, max RSS %M KB" dnaconv embed $CHR20 --pool-window 1000 --no-per-position \
  -o /tmp/chr20.h5 --model "$OUT/model" 2>&1 | tr '\r' '\n' | grep -E "Wrote|wall" | tee "$OUT/embed_chr20.txt"
dnaconv bench embed --model "$OUT/model" --length 2300000 --json "$OUT/bench_embed.json" | tee "$OUT/bench_embed.txt"
