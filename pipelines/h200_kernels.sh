#!/usr/bin/env bash
# The fftconv kernel issue's GPU runs, through the device tool on one H200:
#   bash pipelines/h200_kernels.sh          tests, FFT-size sweep, the issue's grid, embed
#   bash pipelines/h200_kernels.sh cases    tests and the cases the Triton kernel takes (bf16)
#   bash pipelines/h200_kernels.sh tune     launch-shape sweep and an ncu profile of the forward kernel
#   bash pipelines/h200_kernels.sh hbm      tests, the HBM kernel's launch sweep, embed, frequency-sparse effect
#   bash pipelines/h200_kernels.sh grid     the issue's grid (bf16, fwd and fwd+bwd, sparse f = 1/2, 1/4)
#   bash pipelines/h200_kernels.sh prof     torch.profiler time per kernel; frequency-sparse effect
#   bash pipelines/h200_kernels.sh pair     the paired complex forward against the default, its launch sweep
#   bash pipelines/h200_kernels.sh check    on-chip cases, embed (interleaved), per-kernel time of embed
#   bash pipelines/h200_kernels.sh final    tests and the cases the README quotes last
#   bash pipelines/h200_kernels.sh hbmbwd   the opt-in HBM backward (DNACONV_HBM_BWD=1) against the reference
# Expects (carried, git-ignored) .whl/*.whl and .devdata/GRCh37.chr20.fa.gz*. Writes logs and JSON under $OUT.
set -uo pipefail
source pipelines/h200_setup.sh
# Forward ms over rows per product x warps (partial K = N/2, L = 2^20, 64 channels, bf16) -> $OUT/$1
launch_sweep() {
  timeout 200 python3 - <<'PY' 2>&1 | tee "$OUT/$1"
import os, torch, triton
from dnaconv.kernels.fftconv.monarch import monarch_fftconv
for n in (512, 1024, 4096):
    K = n // 2
    u, pre, post = (torch.randn(1, 64, 1 << 20, device="cuda", dtype=torch.bfloat16) for _ in range(3))
    k, bias = torch.randn(64, K, device="cuda") / K**0.5, torch.randn(64, device="cuda")
    line = []
    for rows in (32, 64, 128, 256):
        for warps in (4, 8):
            os.environ["DNACONV_MONARCH_ROWS"], os.environ["DNACONV_MONARCH_WARPS"] = str(rows), str(warps)
            try:
                t = triton.testing.do_bench(lambda: monarch_fftconv(u, k, bias, pre, post), return_mode="median")
                line.append(f"r{rows}w{warps}={t:.3f}")
            except Exception as e:
                line.append(f"r{rows}w{warps}=fail({type(e).__name__})")
    print(f"N={n}", " ".join(line), flush=True)
PY
}
if [ "${1:-}" = tune ]; then
  timeout 120 python3 -m pytest -q -p no:cacheprovider tests/kernels/test_fftconv_monarch.py 2>&1 | tail -1
  echo "== rows-per-product x warps sweep"
  launch_sweep tune.txt
  echo "== ncu: one forward launch at N=512 and N=4096"
  cat > /tmp/one.py <<'PY'
import sys, torch
from dnaconv.kernels.fftconv.monarch import monarch_fftconv
n = int(sys.argv[1]); K = n // 2
u, pre, post = (torch.randn(1, 64, 1 << 20, device="cuda", dtype=torch.bfloat16) for _ in range(3))
k, bias = torch.randn(64, K, device="cuda") / K**0.5, torch.randn(64, device="cuda")
for _ in range(2):
    monarch_fftconv(u, k, bias, pre, post)
torch.cuda.synchronize()
PY
  for n in 512 4096; do
    timeout 90 ncu --clock-control none -k regex:_fftconv_fwd_kernel -s 1 -c 1 --section SpeedOfLight \
      --section Occupancy --section LaunchStats --section WarpStateStats --section ComputeWorkloadAnalysis \
      python3 /tmp/one.py $n > "$OUT/ncu_$n.txt" 2>&1; tail -60 "$OUT/ncu_$n.txt" | grep -E "Duration|Throughput|Occupancy|Registers|Shared Memory|Stall|Issue|Executed Ipc|Warp Cycles|Block Limit" | head -40
  done
  exit 0
fi
if [ "${1:-}" = hbm ]; then
  echo "== compiled kernels against the reference (CUDA)"
  timeout 200 python3 -m pytest -q -rf --tb=short -p no:cacheprovider tests/kernels tests/test_streaming.py > "$OUT/tests.txt" 2>&1
  tail -3 "$OUT/tests.txt"
  echo "== HBM kernel: on-chip row size x columns per column-pass program (forward ms, bf16 gated)"
  for row in 1024 2048 4096; do for cols in 32 64 128; do
    DNACONV_HBM_ROW=$row DNACONV_HBM_COLS=$cols timeout 60 python3 - <<'PY' 2>&1 | tee -a "$OUT/hbm_sweep.txt"
import os, torch, triton
from dnaconv.kernels.fftconv import naive_fftconv
from dnaconv.kernels.fftconv.monarch import monarch_fftconv
from dnaconv.kernels.fftconv.plan import fft_plan
out = []
for B, D, L, K in ((1, 32, 2_300_000, 16384), (1, 64, 1 << 20, 1 << 20), (1, 32, 2_300_000, 8192)):
    u, pre, post = (torch.randn(B, D, L, device="cuda", dtype=torch.bfloat16) for _ in range(3))
    k, bias = torch.randn(D, K, device="cuda") / K**0.5, torch.randn(D, device="cuda")
    f = triton.testing.do_bench(lambda: monarch_fftconv(u, k, bias, pre, post), return_mode="median")
    b = triton.testing.do_bench(lambda: naive_fftconv(u, k, bias, pre, post), return_mode="median")
    p = fft_plan(L, K)
    out.append(f"L={L} K={K} N={p.n} cols={p.cols} row={p.n1}x{p.n2}: {f:.3f} ms (torch.fft {b:.3f}, {b / f:.2f}x)")
print(f"row<={os.environ['DNACONV_HBM_ROW']} cols={os.environ['DNACONV_HBM_COLS']} | " + " | ".join(out), flush=True)
PY
  done; done
  echo "== bench embed, Triton vs reference long convolution (default model, K = 8192)"
  timeout 60 dnaconv bench embed --length 2300000 --chunk-size 65536 --no-baseline --json "$OUT/embed_triton.json" 2>&1 | tail -2
  DNACONV_FFTCONV=naive timeout 60 dnaconv bench embed --length 2300000 --chunk-size 65536 --no-baseline --json "$OUT/embed_naive.json" 2>&1 | tail -2
  echo "== frequency-sparse effect on the default model (test region 20:56-60 Mb, bf16)"
  timeout 150 python3 -m dnaconv.pipelines.freq_sparse_effect .devdata/GRCh37.chr20.fa.gz --json "$OUT/sparse_effect.json" 2>&1 | tail -40
  exit 0
fi
if [ "${1:-}" = prof ]; then
  timeout 150 python3 -m pytest -q -rf --tb=short -p no:cacheprovider tests/kernels/test_fftconv_hbm.py tests/test_streaming.py 2>&1 | tail -3
  echo "== CUDA time per kernel (torch.profiler, 10 calls each, bf16 gated)"
  timeout 200 python3 - <<'PY' 2>&1 | tee "$OUT/prof.txt"
import torch
from torch.profiler import ProfilerActivity, profile
from dnaconv.kernels.fftconv import fftconv, naive_fftconv
for B, D, L, K, f in ((1, 64, 1 << 20, 1 << 20, 1.0), (1, 32, 2_300_000, 16384, 1.0), (1, 32, 2_300_000, 16384, 0.25),
                      (1, 32, 2_300_000, 8192, 1.0), (1, 32, 2_300_000, 1024, 1.0), (1, 32, 2_300_000, 1024, 0.5)):
    u, pre, post = (torch.randn(B, D, L, device="cuda", dtype=torch.bfloat16) for _ in range(3))
    k, bias = torch.randn(D, K, device="cuda") / K**0.5, torch.randn(D, device="cuda")
    for name, fn in (("fftconv", lambda: fftconv(u, k, bias, pre, post, freq_fraction=f)), ("torch.fft", lambda: naive_fftconv(u, k, bias, pre, post))):
        if name == "torch.fft" and f < 1:
            continue
        fn(); torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            for _ in range(10):
                fn()
            torch.cuda.synchronize()
        print(f"### L={L} K={K} D={D} f={f} {name}")
        print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=8, max_name_column_width=60))
PY
  echo "== frequency-sparse effect on the default model (test region 20:56-60 Mb, bf16)"
  timeout 200 python3 -m dnaconv.pipelines.freq_sparse_effect .devdata/GRCh37.chr20.fa.gz --json "$OUT/sparse_effect.json" 2>&1 | tail -40
  exit 0
fi
if [ "${1:-}" = pair ]; then
  timeout 150 python3 -m pytest -q -rf --tb=short -p no:cacheprovider tests/kernels > "$OUT/tests.txt" 2>&1
  tail -2 "$OUT/tests.txt"
  for pair in 1 0; do
    echo "== DNACONV_MONARCH_PAIR=$pair"
    DNACONV_MONARCH_PAIR=$pair timeout 150 dnaconv bench fftconv --dtype bfloat16 --json "$OUT/fftconv_pair$pair.json" \
      --case full:64:1024:1024:1024 --case full:32:1024:2048:2048 --case partial:1:32:2300000:128 \
      --case partial:1:32:2300000:512 --case partial:1:32:2300000:2048 --case partial:1:32:2300000:16384 \
      --fraction 0.5 --fraction 0.25 2>&1 | grep -v "fwd+bwd" | tee "$OUT/fftconv_pair$pair.txt"
  done
  echo "== paired forward: rows per product x warps"
  DNACONV_MONARCH_PAIR=1 launch_sweep tune_pair.txt
  echo "== frequency-sparse effect on the default model (test region 20:56-60 Mb, bf16)"
  timeout 150 python3 -m dnaconv.pipelines.freq_sparse_effect .devdata/GRCh37.chr20.fa.gz --json "$OUT/sparse_effect.json" 2>&1 | grep -E "fraction|perplexity|embed_|pooled"
  exit 0
fi
if [ "${1:-}" = hbmbwd ]; then
  timeout 200 python3 -m pytest -q -rf --tb=short -p no:cacheprovider tests/kernels/test_fftconv_hbm.py 2>&1 | tail -2
  for flag in 1 0; do
    echo "== DNACONV_HBM_BWD=$flag"
    DNACONV_HBM_BWD=$flag timeout 200 dnaconv bench fftconv --dtype bfloat16 --json "$OUT/fftconv_hbmbwd$flag.json" \
      --case partial:1:32:2300000:4096 --case partial:1:32:2300000:8192 --case partial:1:32:2300000:16384 \
      --case partial:1:32:1048576:65536 --case partial:4:128:8192:8192 2>&1 | tee "$OUT/fftconv_hbmbwd$flag.txt"
  done
  exit 0
fi
if [ "${1:-}" = final ]; then
  timeout 200 python3 -m pytest -q -rf --tb=short -p no:cacheprovider tests/kernels > "$OUT/tests.txt" 2>&1
  tail -2 "$OUT/tests.txt"
  timeout 200 dnaconv bench fftconv --dtype bfloat16 --json "$OUT/fftconv_final.json" \
    --case partial:1:32:2300000:2048 --case partial:1:32:2300000:128 --case full:64:1024:1024:1024 \
    --case full:16:1024:4096:4096 --case full:4:1024:16384:16384 --case partial:1:32:2300000:16384 2>&1 | tee "$OUT/fftconv_final.txt"
  exit 0
fi
if [ "${1:-}" = check ]; then
  timeout 200 dnaconv bench fftconv --dtype bfloat16 --json "$OUT/fftconv_chip.json" \
    --case full:64:1024:1024:1024 --case full:32:1024:2048:2048 --case partial:1:32:2300000:128 \
    --case partial:1:32:2300000:512 --case partial:1:32:2300000:2048 2>&1 | tee "$OUT/fftconv_chip.txt"
  echo "== bench embed: reference, Triton, reference, Triton"
  for i in 1 2; do
    DNACONV_FFTCONV=naive timeout 40 dnaconv bench embed --length 2300000 --chunk-size 65536 --no-baseline --json "$OUT/embed_naive_$i.json" 2>&1 | tail -1
    timeout 40 dnaconv bench embed --length 2300000 --chunk-size 65536 --no-baseline --json "$OUT/embed_triton_$i.json" 2>&1 | tail -1
  done
  echo "== CUDA time per kernel over 4 streamed chunks of the default model (bf16)"
  for impl in triton naive; do
    [ $impl = naive ] && export DNACONV_FFTCONV=naive
    timeout 60 python3 - <<'PY' 2>&1 | tee -a "$OUT/prof_embed.txt"
import os, torch
from torch.profiler import ProfilerActivity, profile
from dnaconv.checkpoint import load_model
from dnaconv.streaming import StreamingRunner
model, _ = load_model(None, "cuda")
runner = StreamingRunner(model, -1, torch.bfloat16)
tok = torch.randint(0, 4, (1, 65536 * 6))
chunks = tok.split(65536, dim=1)
for c in chunks[:2]:
    runner.step(c).float().cpu()
torch.cuda.synchronize()
with profile(activities=[ProfilerActivity.CUDA, ProfilerActivity.CPU]) as prof:
    for c in chunks[2:]:
        runner.step(c).float().cpu()
    torch.cuda.synchronize()
print("###", os.environ.get("DNACONV_FFTCONV", "triton"))
print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=14, max_name_column_width=50))
PY
  done
  exit 0
fi
if [ "${1:-}" = grid ]; then
  timeout 420 dnaconv bench fftconv --dtype bfloat16 --fraction 0.5 --fraction 0.25 --json "$OUT/fftconv.json" 2>&1 | tee "$OUT/fftconv.txt"
  timeout 60 dnaconv bench fftconv --dtype bfloat16 --no-backward --fraction 0.5 --fraction 0.25 --json "$OUT/fftconv_small.json" \
    --case partial:1:32:2300000:128 --case partial:1:32:2300000:1024 --case partial:1:32:2300000:8192 \
    --case partial:1:128:73727:8192 2>&1 | tee "$OUT/fftconv_small.txt"
  echo "== bench embed, Triton vs reference long convolution (default model, K = 8192)"
  timeout 40 dnaconv bench embed --length 2300000 --chunk-size 65536 --no-baseline --json "$OUT/embed_triton.json" 2>&1 | tail -1
  DNACONV_FFTCONV=naive timeout 40 dnaconv bench embed --length 2300000 --chunk-size 65536 --no-baseline --json "$OUT/embed_naive.json" 2>&1 | tail -1
  exit 0
fi
if [ "${1:-}" = cases ]; then
  timeout 240 python3 -m pytest -q -rf --tb=short -p no:cacheprovider tests/kernels > "$OUT/tests.txt" 2>&1
  tail -2 "$OUT/tests.txt"
  timeout 300 dnaconv bench fftconv --dtype bfloat16 --json "$OUT/fftconv_cases.json" \
    --case full:64:1024:1024:1024 --case full:32:1024:2048:2048 \
    --case partial:1:32:2300000:128 --case partial:1:32:2300000:512 --case partial:1:32:2300000:2048 \
    --case partial:1:32:2300000:16384
  exit 0
fi

echo "== compiled kernels against the reference (CUDA)"
timeout 240 python3 -m pytest -q -rf --tb=short -p no:cacheprovider tests/kernels tests/test_streaming.py > "$OUT/tests.txt" 2>&1
tail -5 "$OUT/tests.txt"

echo "== FFT size sweep: partial filters K = N/2 at L = 2^20, B*D = 64, forward"
timeout 120 python3 - <<'PY' 2>&1 | tee "$OUT/sweep.txt"
import torch, triton
from dnaconv.kernels.fftconv import naive_fftconv
from dnaconv.kernels.fftconv.monarch import monarch_fftconv
for dt in (torch.bfloat16, torch.float32):
  for n in (256, 512, 1024, 2048, 4096):
    K = n // 2
    u, pre, post = (torch.randn(1, 64, 1 << 20, device="cuda", dtype=dt) for _ in range(3))
    k, bias = torch.randn(64, K, device="cuda") / K**0.5, torch.randn(64, device="cuda")
    f = triton.testing.do_bench(lambda: monarch_fftconv(u, k, bias, pre, post), return_mode="median")
    b = triton.testing.do_bench(lambda: naive_fftconv(u, k, bias, pre, post), return_mode="median")
    print(f"{dt} N={n:6d} K={K:6d} monarch {f:8.3f} ms  torch.fft {b:8.3f} ms  speedup {b / f:5.2f}")
PY

echo "== bench fftconv (the issue's grid)"
timeout 330 dnaconv bench fftconv --json "$OUT/fftconv.json" 2>&1 | tee "$OUT/fftconv.txt"

echo "== bench embed, Triton vs reference long convolution"
timeout 60 dnaconv bench embed --length 2300000 --chunk-size 65536 --no-baseline --json "$OUT/embed_triton.json" 2>&1 | tail -2
DNACONV_FFTCONV=naive timeout 60 dnaconv bench embed --length 2300000 --chunk-size 65536 --no-baseline --json "$OUT/embed_naive.json" 2>&1 | tail -2
