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
#   bash pipelines/h200_kernels.sh hbmbwd   the HBM backward forced (DNACONV_HBM_BWD=1) against the reference
#   bash pipelines/h200_kernels.sh regs     tests; sweep of rows x warps x register cap, forward and fwd+bwd
#   bash pipelines/h200_kernels.sh plan     tests; time per point at each on-chip FFT size (fwd, bwd rows x warps),
#                                            HBM block sizes: the data of plan.POINT_PS
#   bash pipelines/h200_kernels.sh hold     the backward with v held / reloaded per FFT size; the streaming shape's
#                                            time: repeats, CUDA kernel time, cached spectrum, host time
#   bash pipelines/h200_kernels.sh h12      host time per call at the host-bound shapes (GPU spun, cProfile)
#   bash pipelines/h200_kernels.sh h12b     the forward's spectrum kept for the backward vs DNACONV_SPECTRUM_SHARE=0
#   bash pipelines/h200_kernels.sh g12      the issue's grid as GPU tests (test_fftconv_grid.py), then PART=1s pending
#   bash pipelines/h200_kernels.sh s12      the on-chip forward computing the filter spectrum vs given, and the spectrum alone
#   bash pipelines/h200_kernels.sh x12      the on-chip spectrum in one kernel vs DNACONV_SPECTRUM=rfft; its GPU tests
#   bash pipelines/h200_kernels.sh t12      session 12's README table, then the on-chip backward GPU tests
#   bash pipelines/h200_kernels.sh r13      one sequence's HBM forward on half its spectrum (HERM) vs the full frame
#   bash pipelines/h200_kernels.sh f13      paired full-length rows with the HBM backward; the HBM GPU tests
#   bash pipelines/h200_kernels.sh b13      the HBM backward forced where the reference's runs (full-length filters)
#   bash pipelines/h200_kernels.sh t13      N = 16,384 on half the spectrum; the README's full-length rows
#   bash pipelines/h200_kernels.sh s14      the on-chip spectrum on fp16 operands; one sequence's HBM backward at 2^15-2^17
#   bash pipelines/h200_kernels.sh t14      session 14's README table and the GPU tests of what it changed
#   bash pipelines/h200_kernels.sh v14      the spectrum's cost at K = 16K; the on-chip kernel's GPU tests on 8 workers
#   bash pipelines/h200_kernels.sh f14      a cached spectrum with the bias folded in vs without, vs per call; its GPU tests
#   bash pipelines/h200_kernels.sh c14      the forward per call and with cached spectra (bench --cached), partial rows
#   bash pipelines/h200_kernels.sh hspec    HBM plans' spectrum in one kernel vs the rfft; its GPU tests
#   bash pipelines/h200_kernels.sh inter15  the HBM forward's intermediate in fp32 vs fp16 (unscaled) vs bf16; profile
#   bash pipelines/h200_kernels.sh t15      the scaled fp16 intermediate vs fp32; the README rows it changes; tests
#   bash pipelines/h200_kernels.sh t15b     the HBM backward's fp16 intermediates vs fp32; fwd+bwd rows; HBM tests
#   bash pipelines/h200_kernels.sh t15c     session 15's final code: the README table; the GPU tests of what changed
#   bash pipelines/h200_kernels.sh h15      the host-bound shapes: session 15's code vs its paths before, interleaved
#   bash pipelines/h200_kernels.sh g15      the issue's grid where the fp16 intermediates run (GPU tests)
#   bash pipelines/h200_kernels.sh g21      the on-chip kernel's, fftconv's and the grid's GPU tests on session 21's code
#   bash pipelines/h200_kernels.sh sp21     the frequency-sparse forward on the current kernels; all of test_fftconv_hbm.py
#   bash pipelines/h200_kernels.sh t21b     the one-kernel spectrum's HERM rows (FLIP) vs every row; every README row; tests
#   bash pipelines/h200_kernels.sh t21      every README row on session 21's code; GPU tests of the half spectra (FLIP), the grid
#   bash pipelines/h200_kernels.sh d22      the issue's grid as `dnaconv bench fftconv` runs it by default (bf16 and fp32)
#   bash pipelines/h200_kernels.sh x23      the HBM forward's own filter spectrum in fp16 over a scale per row vs fp32; its tests
#   bash pipelines/h200_kernels.sh x23b     x23 again with five rounds where unclear; launch by launch, fp16 vs fp32 spectrum
#   bash pipelines/h200_kernels.sh t23      every README row on session 23's code; the issue's grid in bf16; the fp16 spectrum's tests
#   bash pipelines/h200_kernels.sh c23      the forward per call and with cached spectra (bench --cached) at the README's cached rows
#   bash pipelines/h200_kernels.sh c23b     the cached and per-call forward, fp16 vs fp32 filter spectrum, with host time per call
#   bash pipelines/h200_kernels.sh sp23     the frequency-sparse forward against the dense one, launch by launch
#   bash pipelines/h200_kernels.sh g23b     after the fp16 spectrum: test_fftconv_hbm.py, the grid's bf16 forwards, test_fftconv.py, streaming
#   bash pipelines/h200_kernels.sh g23      every test of test_fftconv_hbm.py on the final wrapper code; the frequency-sparse effect
#                                            on the current default model
#   bash pipelines/h200_kernels.sh g22      every test of test_fftconv_hbm.py (the float64 reference through torch.fft past 1024 taps)
#   bash pipelines/h200_kernels.sh h22      windows at K = 768-2048: the fused backward vs the HBM one; then h12 (host time)
#   bash pipelines/h200_kernels.sh k22      the column passes' columns per program and warps, forward and fwd+bwd
#   bash pipelines/h200_kernels.sh p22      launch-by-launch GPU time (torch.profiler) at the rows short of their targets
#   bash pipelines/h200_kernels.sh s21      the HBM forward on half the filter spectrum, mirrored DFT matrices (FLIP) vs every row
#                                            vs gathers; the half spectra's GPU tests; one stalled fp32 test under faulthandler
#   bash pipelines/h200_kernels.sh r20      the README rows of one block through two column levels on session 20's final code
#   bash pipelines/h200_kernels.sh g20      GPU tests of session 20's changes that s20 and x18 did not reach
#   bash pipelines/h200_kernels.sh f20      d(post) from g's first column pass vs a torch op; every README row on session 20's code
#   bash pipelines/h200_kernels.sh s20      the filter spectrum gathered into the HBM backward's order vs computed twice; v's
#                                            spectrum kept within torch.fft's held bytes (paired rows); memory; tests
#   bash pipelines/h200_kernels.sh s19      the HBM backward in forward time for one block a sequence vs reversed, and with
#                                            v's spectrum kept by the forward vs not; peak and held memory; tests
#   bash pipelines/h200_kernels.sh p19      the training shape's fwd+bwd with v's spectrum kept or not (rounds, launches,
#                                            host time); v kept in fp16 through two column levels; then every README row
#   bash pipelines/h200_kernels.sh f19      the direct HBM backward over several blocks vs one block only vs reversed;
#                                            every README row on session 19's code; the direct backward's GPU tests
#   bash pipelines/h200_kernels.sh g19      GPU tests of the direct HBM backward and v's kept spectrum; gradients on the grid
#   bash pipelines/h200_kernels.sh t18      session 18's README table on its final code (every row)
#   bash pipelines/h200_kernels.sh x18 DIR  the working tree's kernels vs DIR's (alternating processes): the spectrum's taps
#                                            unscaled, dk's 1/N in its row pass, one sequence's dk unsummed; tests
#   bash pipelines/h200_kernels.sh p18      GPU time launch by launch at the rows short of their targets; paired 32K's backward rows
#   bash pipelines/h200_kernels.sh s18      the forward's spectrum kept for the backward up to torch.fft's saved spectra vs up to
#                                            u's bytes; peak memory; the one-block README rows; --cached; tests
#   bash pipelines/h200_kernels.sh f17      the README rows e17's plans moved (full 4K, 16K, the training shape); their GPU tests
#   bash pipelines/h200_kernels.sh e17      rows of 256, 512 for one-block plans of a column level of 16 (full 4K, 8K, 16K)
#   bash pipelines/h200_kernels.sh d17      the HBM backward's dk through its own inverse passes vs torch.fft; the README table; tests
#   bash pipelines/h200_kernels.sh w17      two column levels on the shortest rows (fwd and bwd alike) vs before, fwd+bwd
#   bash pipelines/h200_kernels.sh r17      the HBM forward's row (1024-4096) vs the plan's with live rows; fwd+bwd per kernel
#   bash pipelines/h200_kernels.sh t17      the paired last pass's rule for live rows; the README rows of t16 on session 17's code
#   bash pipelines/h200_kernels.sh g17      GPU tests: live rows, the grid from L = 16K, one sequence (N = 2^24's backward)
#   bash pipelines/h200_kernels.sh l17      one-block sequences' first column level on its live rows (_live_rows) vs every
#                                            row (DNACONV_HBM_LIVE=0), forward and fwd+bwd; its GPU tests
#   bash pipelines/h200_kernels.sh n24      one sequence's HBM backward forced at N = 2^24 (8M x 8) vs torch.fft's autograd
#   bash pipelines/h200_kernels.sh fill16   (run in session 17: slower) the passes' spectrum on a HERM frame's rows, each stored again
#                                            as its mirror's (DNACONV_HBM_SPECTRUM_FILL=1) vs every row; its GPU tests
#   bash pipelines/h200_kernels.sh g16      GPU tests: the mirrored half spectrum, gradients on the grid at L = 2M, 4M
#   bash pipelines/h200_kernels.sh b16      one sequence's HBM backward (half its spectrum) forced vs torch.fft's autograd,
#                                            N = 2^18 ... 2^23, with the passes' spectrum
#   bash pipelines/h200_kernels.sh t16      session 16's README rows (the HBM plans whose spectrum the passes now make);
#                                            the issue's grid there and the new tests (GPU)
#   bash pipelines/h200_kernels.sh m16      the passes' spectrum on a HERM frame's rows, mirrored (default) vs every row;
#                                            GPU tests of the mirrored and the passes' spectra
#   bash pipelines/h200_kernels.sh p16      HBM plans' filter spectrum through the forward's own passes vs the rfft (and
#                                            vs the one-kernel spectrum up to 65,536 points); its GPU tests
#   bash pipelines/h200_kernels.sh k16      per-kernel GPU time of the HBM forward as the intermediate shrinks to
#                                            fit L2; the on-chip vs HBM pick at K = 384-640
#   bash pipelines/h200_kernels.sh s16      fp16 intermediates through two column levels vs fp32, K = 64K's forward through two fp16 column levels (rows of
#                                            1024, 2048) vs one; the two-level GPU tests
#   bash pipelines/h200_kernels.sh dbg13    Triton 3.6's miscompile of an unpaired inverse column pass (64 x 32)
#   bash pipelines/h200_kernels.sh pending  the GPU tests (PART=1 or 2: half of them), then the modes in $MODES
#   bash pipelines/h200_kernels.sh split    DNACONV_MONARCH_SPLIT=1 (opt-in) against the fused backward, and where
#                                            only it runs on chip (N = 4096)
#   bash pipelines/h200_kernels.sh lengths  the split backward at N = 4096 and the fp32 kernels against torch.fft
#                                            per L (where plan.split_backward and triton_pays's fp32 rule come from)
#   bash pipelines/h200_kernels.sh savez    fwd+bwd with z saved by the forward (SAVEZ) against recomputed, then the
#                                            monarch GPU tests
#   bash pipelines/h200_kernels.sh bwdhalf  DNACONV_MONARCH_BWD_HALF=1 (the one-block backward on half tiles, now the
#                                            default) against =0, full-length filters; backward alone per rows
#   bash pipelines/h200_kernels.sh hbmpair  DNACONV_HBM_PAIR=1 (two segments per complex block through HBM, now the
#                                            default) against =0, forward; fwd+bwd with DNACONV_HBM_BWD=1 (z saved)
#   bash pipelines/h200_kernels.sh points   ps per point on chip and through HBM (plan.POINT_PS) with today's defaults;
#                                            fwd+bwd per L with the HBM backward or without (plan.HBM_BWD_MIN_SIZE)
#   bash pipelines/h200_kernels.sh onepair  full-length filters in one HBM block, paired across the batch, against
#                                            torch.fft, forward and fwd+bwd (HBM or reference backward)
#   bash pipelines/h200_kernels.sh onebwd   the HBM backward over one block per sequence (full-length filters, paired
#                                            across the batch) against torch.fft; gradients reset vs accumulated; ncu
#                                            of the HBM kernels' fwd+bwd at K = 8192
#   bash pipelines/h200_kernels.sh trig     the HBM column passes with approximate sine/cosine and a scale per column
#                                            against the version before (build/base_hbm.py, carried); ncu of them
#   bash pipelines/h200_kernels.sh vrev     the HBM backward with v reversed by its gates kernel against v's column pass
#                                            reading u and pre reversed; columns per column-pass program
#   bash pipelines/h200_kernels.sh table2   every gradient against fp32 torch.fft; the README's kernel table with the
#                                            one-block full-length rows; GPU tests of the HBM backward
#   bash pipelines/h200_kernels.sh spec     the filter spectrum's kernel vs its torch ops: forward, host wall time, tests
#   bash pipelines/h200_kernels.sh rowsize  fp16 DFT matrices vs fp32; the backward's (and forward's) rows capped at 2048
#                                            or 1024 points: forward, backward alone, fwd+bwd; on-chip shapes
#   bash pipelines/h200_kernels.sh bwdpts   the HBM backward's block sizes (rows of at most 2048 points) and the forward's
#                                            at K = 8192, 16K: ms and ps per point
#   bash pipelines/h200_kernels.sh chipsweep the on-chip forward's launch shapes with fp16 matrices, lazy matrices at
#                                            N = 4096 (as of 2010dd5); the HBM forward's block size at K = 2048, 4096
#   bash pipelines/h200_kernels.sh align    aligned block overlaps (DNACONV_FFT_ALIGN=1) vs K' - 1, fwd and fwd+bwd
#   bash pipelines/h200_kernels.sh s11      the half-tile fused backward split into its two frames' launches vs one
#   bash pipelines/h200_kernels.sh e11      the training shape's fwd+bwd: bench vs wall, profiler by CPU time
#   bash pipelines/h200_kernels.sh d11      GPU tests of the eleventh session's changes; the README table
#   bash pipelines/h200_kernels.sh c11      the HBM backward over one block below 2^25 elements vs the reference; tests
#   bash pipelines/h200_kernels.sh b11      the fused backward at N = 4096 on half tiles (default) vs before, knobs;
#                                            the windows' fused backward; GPU tests; the README table
#   bash pipelines/h200_kernels.sh bwd4096  the fused backward forced at N = 4096 (half tiles or not) at full
#                                            L = 2K, 1536; the windows at K = 1024 fused vs HBM backward
#   bash pipelines/h200_kernels.sh table10  the README table on bwd10's defaults; fused vs HBM backward about K = 768; tests
#   bash pipelines/h200_kernels.sh bwd10    the fused backward at two segments of N = 2048 and the forward's half tiles
#                                            at 4096 (the defaults now) end to end, backward knobs beyond, costs, tests
#   bash pipelines/h200_kernels.sh bknobs10 the fused on-chip backward's launch knobs, full L = 1K and controls
#   bash pipelines/h200_kernels.sh half10   GPU tests and timings with the half-tile frame at N = 4096
#   bash pipelines/h200_kernels.sh knobs9   on-chip forward launch knobs at full L = 1K, 2K, windows K = 1024; HALF at 4096
#   bash pipelines/h200_kernels.sh again9   table9's bench in a second call; K = 256 aligned or not; moved plans' tests
#   bash pipelines/h200_kernels.sh table9   the README table on pick9's POINT_PS; gradients where picks moved; PART=2b
#   bash pipelines/h200_kernels.sh pick9    POINT_PS from points9.json vs the table before: picks end to end; tests
#   bash pipelines/h200_kernels.sh align9    aligned at one block in 64 more vs =strict vs K' - 1
#   bash pipelines/h200_kernels.sh sweep8   the HBM forward's block size, rows, columns at K = 8192, 16K; POINT_PS again
#   bash pipelines/h200_kernels.sh rows8    rows of 1024 vs the plan's; then the README table and gradient errors
#   bash pipelines/h200_kernels.sh chip8    filters of 128 taps on chip at N = 2048 vs 1024
#   bash pipelines/h200_kernels.sh final7   cols7's picks vs before; PART=1 tests
#   bash pipelines/h200_kernels.sh cols7    columns per column-pass program; 32 x 64 rows capped at 168 regs
#   bash pipelines/h200_kernels.sh fb7      fwd+bwd with rows7's changes vs before; table rows again; tests
#   bash pipelines/h200_kernels.sh rows7    the forward's rows of 2048 and row launches vs before; README table
#   bash pipelines/h200_kernels.sh rowsweep the HBM forward's row size (1024-4096 points) and row-pass launch
#   bash pipelines/h200_kernels.sh left     the HBM row pass as left products (DNACONV_HBM_LEFT=1, as of
#                                            3d6f13b, reverted) vs now; host time per forward; windows K = 1024
#   bash pipelines/h200_kernels.sh table4   the README's kernel table (sixth session); gradients against fp32 torch.fft
#   bash pipelines/h200_kernels.sh rest     the GPU tests named in gpu_remaining_tests.txt
#   bash pipelines/h200_kernels.sh halfcheck fp16 DFT matrices vs fp32 at K = 128-2048 (L = 2.3M), fwd and fwd+bwd
#   bash pipelines/h200_kernels.sh fbcheck  fwd+bwd with rows of 4096 points as now vs the launch before
#   bash pipelines/h200_kernels.sh table3   the table's HBM rows; gradients; GPU tests (gpu_remaining_tests.txt or
#                                            the HBM ones)
#   bash pipelines/h200_kernels.sh host     small shapes: do_bench against the host's time per call, skip term folded or not
#   bash pipelines/h200_kernels.sh hbmpts   plan.POINT_PS's forward and HBM rows re-measured; 384-1024 taps on chip vs HBM
#   bash pipelines/h200_kernels.sh lazy     the HBM row passes' DFT matrices loaded where used vs held, with their
#                                            launch shapes, forward and backward; the streaming shape's host time
#   bash pipelines/h200_kernels.sh rowcheck the row pass's launch now vs uncapped vs before: bench, host wall and kernel
#                                            time per call; then every GPU test in one process
#   bash pipelines/h200_kernels.sh plancheck the forward block sizes the re-measured POINT_PS picks vs the ones before
#   bash pipelines/h200_kernels.sh hbmdk    the HBM backward with dk from its row pass against the one before
#                                            (build/old_bwd.py, carried); the dk pass's shape; fwd+bwd as
#                                            dispatched vs forced vs torch.fft where plan.backward_kind's rules came from
#   bash pipelines/h200_kernels.sh bwdplan  fwd+bwd with the HBM backward forced where the on-chip one runs; its block size
#   bash pipelines/h200_kernels.sh bwdprof  torch.profiler of fwd+bwd with the HBM backward (kernels' GPU time)
#   bash pipelines/h200_kernels.sh hostprof host time of fwd+bwd with the HBM backward (profiler by CPU time)
#   bash pipelines/h200_kernels.sh fp32     the fp32 (3xtf32) kernels against torch.fft in fp32 (fftconv runs torch.fft)
#   bash pipelines/h200_kernels.sh pack     DNACONV_MONARCH_ACROSS=pack (now the default) against =1, windows of 8192
#   bash pipelines/h200_kernels.sh isolate  one-block sequences, each configuration of $CONFIGS (space-separated;
#                                            each ENV=VAL,ENV=VAL or "torch") in a process of its own
#   bash pipelines/h200_kernels.sh knobs DIR  forward with DNACONV_MONARCH_HOLD auto / 0 (SKIP_HOLD0=1: auto only),
#                                            then the kernels in DIR
#   bash pipelines/h200_kernels.sh ab DIR   tests; the working tree's kernels, then the kernels/fftconv/*.py
#                                            copies in DIR (a baseline, e.g. from git show), then the working
#                                            tree's again (and frequency-sparse), fwd and fwd+bwd, in one run
# Expects (carried, git-ignored) .whl/*.whl and .devdata/GRCh37.chr20.fa.gz*. Writes logs and JSON under $OUT.
set -uo pipefail
source pipelines/h200_setup.sh
# The README kernel table's cases (``table2``, ``table4``): partial filters at L = 2.3M x 32, the streaming shape,
# K = 64K at 1M x 64, full-length filters (B x D x L = 2^26 but the training shape), training windows of 8192
TABLE_CASES="--case partial:1:32:2300000:128 --case partial:1:32:2300000:256 --case partial:1:32:2300000:512
  --case partial:1:32:2300000:1024 --case partial:1:32:2300000:2048 --case partial:1:32:2300000:4096
  --case partial:1:32:2300000:8192 --case partial:1:128:73727:8192 --case partial:1:32:2300000:16384
  --case partial:1:64:1048576:65536 --case full:128:1024:512:512 --case full:64:1024:1024:1024
  --case full:32:1024:2048:2048 --case full:16:1024:4096:4096 --case full:16:128:8192:8192
  --case full:8:512:16384:16384 --case partial:32:256:8192:128 --case partial:32:256:8192:1024"
# The README rows of one HBM block per sequence (full-length filters from L = 16K, paired or one sequence), K =
# 64K at 1M, and K = 16K at 2.3M as a control (``t16``, ``t17``)
ONE_BLOCK_CASES="--case partial:1:64:1048576:65536 --case full:8:512:16384:16384 --case full:4:256:65536:65536
  --case full:1:1024:65536:65536 --case full:1:2048:32768:32768 --case full:2:128:262144:262144
  --case full:2:32:1048576:1048576 --case full:2:16:2097152:2097152 --case full:2:8:4194304:4194304
  --case full:1:256:262144:262144 --case full:1:64:1048576:1048576 --case full:1:32:2097152:2097152
  --case full:1:16:4194304:4194304 --case partial:1:32:2300000:16384"
# Every README row: the table's cases, then the one-block rows of full-length filters (t18, p19, f19, ...)
ALL_ROWS="$TABLE_CASES --case full:4:256:65536:65536 --case full:1:1024:65536:65536
  --case full:1:2048:32768:32768 --case full:2:128:262144:262144 --case full:2:32:1048576:1048576
  --case full:2:16:2097152:2097152 --case full:2:8:4194304:4194304 --case full:1:256:262144:262144
  --case full:1:64:1048576:1048576 --case full:1:32:2097152:2097152 --case full:1:16:4194304:4194304"
# dnaconv bench fftconv in bf16 over the cases given (--case ...), else $TABLE_CASES (the README table's),
# within $1 seconds -> $OUT/table.json and $OUT/table.txt
bench_table() {
  local seconds=$1
  shift
  timeout "$seconds" dnaconv bench fftconv --dtype bfloat16 --json "$OUT/table.json" ${@:-$TABLE_CASES} 2>&1 \
    | tee "$OUT/table.txt"
}
# GPU tests: pytest -v over the files $1 selected by -k "$2", within ${TEST_S:-$3} seconds -> $OUT/tests.txt;
# prints the PASSED / FAILED / ERROR lines and the summary
gpu_tests() {
  timeout "${TEST_S:-$3}" python3 -m pytest -v -rf --tb=short -p no:cacheprovider $1 -k "$2" > "$OUT/tests.txt" 2>&1
  grep -E "PASSED|FAILED|ERROR" "$OUT/tests.txt" | head -20; tail -2 "$OUT/tests.txt"
}
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
# ncu over the second of two fwd+bwd steps at L = 2.3M x 32, K = 8192 (the HBM kernels): the kernels matching
# the regex $1 ($2 of them per step) -> $3; further arguments: more ncu sections
ncu_step() {
  local regex=$1 count=$2 out=$3
  shift 3
  cat > /tmp/step.py <<'PY'
import torch
from dnaconv.kernels.fftconv import fftconv
from dnaconv.pipelines.ab import gated_inputs
u, k, bias, pre, post, dy = gated_inputs(1, 32, 2_300_000, 8192)
for _ in range(2):
    fftconv(u, k, bias, pre, post).backward(dy)
torch.cuda.synchronize()
PY
  timeout 200 ncu --clock-control none -k regex:"$regex" -s "$count" -c "$count" --section SpeedOfLight \
    --section MemoryWorkloadAnalysis --section Occupancy --section WarpStateStats "$@" python3 /tmp/step.py > "$out" 2>&1
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
if [ "${1:-}" = regs ]; then
  timeout 200 python3 -m pytest -q -rf --tb=short -p no:cacheprovider tests/kernels > "$OUT/tests.txt" 2>&1
  tail -2 "$OUT/tests.txt"
  timeout 380 python3 - <<'PY' 2>&1 | tee "$OUT/regs.txt"
import os, torch, triton
from dnaconv.kernels.fftconv import naive_fftconv
from dnaconv.kernels.fftconv.monarch import monarch_fftconv
ENV = ("DNACONV_MONARCH_ROWS", "DNACONV_MONARCH_WARPS", "DNACONV_MONARCH_MAXNREG")
def sweep(name, B, D, L, K, configs, backward=False):
    u, pre, post = (torch.randn(B, D, L, device="cuda", dtype=torch.bfloat16, requires_grad=backward) for _ in range(3))
    k = (torch.randn(D, K, device="cuda") / K**0.5).requires_grad_(backward)
    bias = torch.randn(D, device="cuda", requires_grad=backward)
    ref = naive_fftconv(u.detach(), k.detach(), bias.detach(), pre.detach(), post.detach()).float()
    dy = torch.randn_like(u)
    line = []
    for cfg in configs:
        for key, val in zip(ENV, cfg):
            os.environ[key] = str(val)
        fn = (lambda: monarch_fftconv(u, k, bias, pre, post).backward(dy)) if backward else (lambda: monarch_fftconv(u, k, bias, pre, post))
        tag = "r{}w{}c{}".format(*cfg)
        try:
            with torch.no_grad():
                err = ((monarch_fftconv(u.detach(), k.detach(), bias.detach(), pre.detach(), post.detach()).float() - ref).norm() / ref.norm()).item()
            line.append(f"{tag}={triton.testing.do_bench(fn, return_mode='median'):.3f}" + ("" if err < 1e-2 else f"(ERR {err:.1e})"))
        except Exception as e:
            line.append(f"{tag}=fail({type(e).__name__}: {str(e)[:60]})")
    base = triton.testing.do_bench(lambda: naive_fftconv(u, k, bias, pre, post), return_mode="median") if not backward else float("nan")
    print(f"{name} (torch.fft fwd {base:.3f})", " ".join(line), flush=True)
fwd = [(64, 4, 0), (128, 4, 0), (128, 8, 0), (256, 8, 0), (128, 4, 168), (64, 4, 128), (64, 4, 168)]
for name, shape in (("K=128 N=512", (1, 32, 2_300_000, 128)), ("K=512 N=1024", (1, 32, 2_300_000, 512)),
                    ("K=1024 N=2048", (1, 32, 2_300_000, 1024)), ("K=2048 N=4096", (1, 32, 2_300_000, 2048)),
                    ("full L=1K N=2048", (64, 1024, 1024, 1024))):
    sweep(name, *shape, fwd)
for name, shape in (("K=4096 HBM", (1, 32, 2_300_000, 4096)), ("K=16K HBM", (1, 32, 2_300_000, 16384)),
                    ("K=8192 HBM stream", (1, 128, 73727, 8192))):
    sweep(name, *shape, [(128, 0, 0), (128, 0, 168)])
bwd = [(64, 4, 0), (128, 8, 0), (64, 8, 0), (64, 4, 168)]
for name, shape in (("fwd+bwd K=128", (1, 32, 2_300_000, 128)), ("fwd+bwd K=512", (1, 32, 2_300_000, 512)),
                    ("fwd+bwd K=1024", (1, 32, 2_300_000, 1024)), ("fwd+bwd full L=1K", (64, 1024, 1024, 1024))):
    sweep(name, *shape, bwd, backward=True)
PY
  exit 0
fi
if [ "${1:-}" = plan ]; then
  [ -n "${SKIP_TESTS:-}" ] || { timeout 200 python3 -m pytest -q -rf --tb=short -p no:cacheprovider tests/kernels > "$OUT/tests.txt" 2>&1; tail -2 "$OUT/tests.txt"; }
  timeout 420 python3 - <<'PY' 2>&1 | tee "$OUT/plan.txt"
# Time per transformed point at each on-chip FFT size (forward; backward per rows x warps), the HBM block
# size, and the reference: the data of plan.POINT_PS. bf16, gated, L = 2.3M, 32 channels, K = 128.
import json, os, torch, triton
from dnaconv.kernels.fftconv import naive_fftconv
from dnaconv.kernels.fftconv.monarch import _fftconv_bwd, _fftconv_fwd, monarch_fftconv
from dnaconv.kernels.fftconv.plan import _split
B, D, L, K = 1, 32, 2_300_000, 128
torch.manual_seed(0)
u, pre, post = (torch.randn(B, D, L, device="cuda", dtype=torch.bfloat16) for _ in range(3))
k, bias = torch.randn(D, K, device="cuda") / K**0.5, torch.randn(D, device="cuda")
dy = torch.randn_like(u)
xs = [x.detach().float().requires_grad_() for x in (u, k, bias, pre, post)]
ref_y = naive_fftconv(*xs)
ref = torch.autograd.grad(ref_y, xs, dy.float())
rel = lambda a, b: ((a.float() - b).norm() / b.norm()).item()
bench = lambda fn: triton.testing.do_bench(fn, return_mode="median")
out = {"ref_fwd": bench(lambda: naive_fftconv(u, k, bias, pre, post))}
ug = [x.detach().requires_grad_() for x in (u, k, bias, pre, post)]
out["ref_fwdbwd"] = bench(lambda: naive_fftconv(*ug).backward(dy))
print(f"torch.fft fwd {out['ref_fwd']:.3f} fwd+bwd {out['ref_fwdbwd']:.3f}", flush=True)
for n in (512, 1024, 2048, 4096):
    os.environ["DNACONV_MONARCH_FFT"] = str(n)
    pts = -(-L // (n - K + 1)) * n * B * D
    t = bench(lambda: _fftconv_fwd(u, k, bias, pre, post, None))
    err = rel(_fftconv_fwd(u, k, bias, pre, post, None), ref_y.detach())
    out[f"fwd{n}"] = t
    line = [f"fwd {t:.3f} ms {t * 1e9 / pts:.2f} ps/pt err {err:.1e}"]
    for rows, warps in ((32, 4), (32, 8), (64, 4), (64, 8)):
        if rows < _split(n)[0]:
            continue  # one segment per program, as with rows = N1
        os.environ["DNACONV_MONARCH_ROWS"], os.environ["DNACONV_MONARCH_WARPS"] = str(rows), str(warps)
        try:
            t = bench(lambda: _fftconv_bwd(dy, u, k, bias, pre, post, None))
            g = _fftconv_bwd(dy, u, k, bias, pre, post, None)
            e = max(rel(a, b) for a, b in zip(g, ref))
            out[f"bwd{n}_r{rows}w{warps}"] = t
            line.append(f"bwd r{rows}w{warps} {t:.3f} ms {t * 1e9 / pts:.2f} ps/pt err {e:.1e}")
        except Exception as ex:
            line.append(f"bwd r{rows}w{warps} fail {type(ex).__name__}: {str(ex)[:80]}")
    os.environ.pop("DNACONV_MONARCH_ROWS", None), os.environ.pop("DNACONV_MONARCH_WARPS", None)
    print(f"N={n}: " + " | ".join(line), flush=True)
del os.environ["DNACONV_MONARCH_FFT"]
for B2, D2, L2, K2 in ((1, 32, 2_300_000, 4096), (1, 32, 2_300_000, 8192), (1, 32, 2_300_000, 16384), (1, 128, 73727, 8192)):
    u2, pre2, post2 = (torch.randn(B2, D2, L2, device="cuda", dtype=torch.bfloat16) for _ in range(3))
    k2, b2 = torch.randn(D2, K2, device="cuda") / K2**0.5, torch.randn(D2, device="cuda")
    r2 = naive_fftconv(u2, k2, b2, pre2, post2).float()
    line = [f"torch.fft {bench(lambda: naive_fftconv(u2, k2, b2, pre2, post2)):.3f}"]
    for n in (0, 1 << 16, 1 << 17, 1 << 18):
        os.environ["DNACONV_HBM_FFT"] = str(n)
        t = bench(lambda: monarch_fftconv(u2, k2, b2, pre2, post2))
        e = rel(monarch_fftconv(u2, k2, b2, pre2, post2), r2)
        line.append(f"N>={n}: {t:.3f} (err {e:.1e})")
    print(f"HBM L={L2} K={K2} D={D2}: " + " | ".join(line), flush=True)
json.dump(out, open(os.path.join(os.environ.get("OUT", "/tmp"), "plan.json"), "w"), indent=1)
PY
  exit 0
fi
if [ "${1:-}" = hold ]; then
  timeout 300 python3 - <<'PY' 2>&1 | tee "$OUT/hold.txt"
# The backward alone with v held or reloaded (DNACONV_MONARCH_HOLD) at each FFT size, interleaved twice; then
# the streaming shape's forward: do_bench repeats, the CUDA time of its kernels (torch.profiler), a cached
# spectrum, and the host time of one call.
import os, time, torch, triton
from torch.profiler import ProfilerActivity, profile
from dnaconv.kernels.fftconv import fftconv, fftconv_spectrum
from dnaconv.kernels.fftconv.monarch import _fftconv_bwd
bench = lambda fn: triton.testing.do_bench(fn, return_mode="median")
def inputs(B, D, L, K):
    torch.manual_seed(0)
    u, pre, post, dy = (torch.randn(B, D, L, device="cuda", dtype=torch.bfloat16) for _ in range(4))
    return u, torch.randn(D, K, device="cuda") / K**0.5, torch.randn(D, device="cuda"), pre, post, dy
for name, shape, n in (("K=128 N=512", (1, 32, 2_300_000, 128), 512), ("K=128 N=1024", (1, 32, 2_300_000, 128), 1024),
                       ("K=512 N=2048", (1, 32, 2_300_000, 512), 2048), ("K=2048 N=4096", (1, 32, 2_300_000, 2048), 4096),
                       ("full L=1K N=2048", (64, 1024, 1024, 1024), 2048)):
    u, k, bias, pre, post, dy = inputs(*shape)
    os.environ["DNACONV_MONARCH_FFT"] = str(n)
    line = []
    for rep in range(2):
        for hold in ("0", "1"):
            os.environ["DNACONV_MONARCH_HOLD"] = hold
            line.append(f"hold{hold} {bench(lambda: _fftconv_bwd(dy, u, k, bias, pre, post, None)):.3f}")
    del os.environ["DNACONV_MONARCH_HOLD"], os.environ["DNACONV_MONARCH_FFT"]
    print(f"bwd {name}: " + " ".join(line), flush=True)
    del u, k, bias, pre, post, dy
u, k, bias, pre, post, dy = inputs(1, 128, 73727, 8192)
kf = fftconv_spectrum(k, u)
run = lambda: fftconv(u, k, bias, pre, post)
cached = lambda: fftconv(u, k, bias, pre, post, k_f=kf)
print("stream do_bench:", " ".join(f"{bench(run):.3f}" for _ in range(4)), "| cached spectrum:", " ".join(f"{bench(cached):.3f}" for _ in range(3)), flush=True)
for name, fn in (("plain", run), ("cached", cached)):
    fn(); torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(20):
        fn()
    host = (time.perf_counter() - t0) / 20 * 1e3
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(20):
            fn()
        torch.cuda.synchronize()
    dev = sum(e.device_time_total for e in prof.key_averages()) / 20 / 1e3
    print(f"stream {name}: host {host:.3f} ms per call (enqueue), CUDA kernels {dev:.3f} ms per call", flush=True)
    print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=8, max_name_column_width=50), flush=True)
PY
  exit 0
fi
if [ "${1:-}" = lazy ]; then
  # The HBM row passes with each DFT matrix loaded where it is used (DNACONV_HBM_LAZY=1) against held throughout
  # (=0), with the row pass's launch shape (DNACONV_MONARCH_ROWS / _WARPS / _MAXNREG), forward, interleaved; the
  # backward alone (z from the forward) lazy or not, and its dk pass's shape; then the streaming shape's host
  # time by op (torch.profiler, CPU).
  timeout 300 python3 - <<'PY' 2>&1 | tee "$OUT/lazy.txt"
import os, torch
from dnaconv.kernels.fftconv import naive_fftconv
from dnaconv.kernels.fftconv.monarch_hbm import hbm_fftconv_fwd
from dnaconv.kernels.fftconv.monarch_hbm_bwd import hbm_fftconv_bwd
from dnaconv.pipelines.ab import bench, gated_inputs, interleaved_envs as configs
rel = lambda a, b: ((a.float() - b.float()).norm() / b.float().norm()).item()
FWD = {"held": {"DNACONV_HBM_LAZY": "0"}, "lazy": {"DNACONV_HBM_LAZY": "1"},
       "lazy-g1w4": {"DNACONV_HBM_LAZY": "1", "DNACONV_MONARCH_ROWS": "64", "DNACONV_MONARCH_WARPS": "4"},
       "lazy-g1w4c168": {"DNACONV_HBM_LAZY": "1", "DNACONV_MONARCH_ROWS": "64", "DNACONV_MONARCH_WARPS": "4",
                         "DNACONV_MONARCH_MAXNREG": "168"},
       "lazy-g1w8": {"DNACONV_HBM_LAZY": "1", "DNACONV_MONARCH_ROWS": "64", "DNACONV_MONARCH_WARPS": "8"},
       "lazy-c168": {"DNACONV_HBM_LAZY": "1", "DNACONV_MONARCH_MAXNREG": "168"},
       "held-g1w4": {"DNACONV_HBM_LAZY": "0", "DNACONV_MONARCH_ROWS": "64", "DNACONV_MONARCH_WARPS": "4"}}
BWD = {"held": {"DNACONV_HBM_LAZY": "0"}, "lazy": {"DNACONV_HBM_LAZY": "1"},
       "lazy-dk4096": {"DNACONV_HBM_LAZY": "1", "DNACONV_HBM_DK_POINTS": "4096"},
       "held-dk4096": {"DNACONV_HBM_LAZY": "0", "DNACONV_HBM_DK_POINTS": "4096"},
       "lazy-dkw8": {"DNACONV_HBM_LAZY": "1", "DNACONV_HBM_DK_WARPS": "8"}}
for B, D, L, K in ((1, 32, 2_300_000, 8192), (1, 32, 2_300_000, 16384), (1, 64, 1 << 20, 65536),
                   (1, 128, 73727, 8192), (1, 32, 2_300_000, 4096)):
    u, k, bias, pre, post, dy = gated_inputs(B, D, L, K, grad=False)
    args = (u, k, bias, pre, post)
    with torch.no_grad():
        ref = naive_fftconv(*(x.float() for x in args))
        errs = []
        for lazy in ("0", "1"):
            os.environ["DNACONV_HBM_LAZY"] = lazy
            errs.append(f"err lazy={lazy} {rel(hbm_fftconv_fwd(*args), ref):.2e}")
        del ref
        print(f"{B}x{D}x{L} K={K} fwd: torch {bench(lambda: naive_fftconv(*args)):.3f} "
              + configs(lambda: hbm_fftconv_fwd(*args), FWD) + " | " + " ".join(errs), flush=True)
        if L < 1 << 20:
            continue
        z = torch.empty_like(u)
        hbm_fftconv_fwd(*args, z=z)
        grads = {}
        for lazy in ("0", "1"):
            os.environ["DNACONV_HBM_LAZY"] = lazy
            grads[lazy] = hbm_fftconv_bwd(dy, *args, None, z)
        del os.environ["DNACONV_HBM_LAZY"]
        diff = " ".join(f"{n} {rel(a, b):.1e}" for n, a, b in zip(("du", "dk", "dbias", "dpre", "dpost"), grads["1"], grads["0"]))
        del grads
        print(f"{B}x{D}x{L} K={K} bwd: " + configs(lambda: hbm_fftconv_bwd(dy, *args, None, z), BWD)
              + f" | lazy vs held: {diff}", flush=True)
    del u, k, bias, pre, post, dy, args
    torch.cuda.empty_cache()
PY
  timeout 60 python3 - <<'PY' > "$OUT/streamprof.txt" 2>&1
import torch
from torch.profiler import ProfilerActivity, profile
from dnaconv.kernels.fftconv import fftconv
from dnaconv.pipelines.ab import gated_inputs
u, k, bias, pre, post, dy = gated_inputs(1, 128, 73727, 8192, grad=False)
with torch.no_grad():
    for _ in range(3):
        fftconv(u, k, bias, pre, post)
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(10):
            fftconv(u, k, bias, pre, post)
        torch.cuda.synchronize()
ka = prof.key_averages()
print(ka.table(sort_by="self_cpu_time_total", row_limit=30, max_name_column_width=60), flush=True)
PY
  head -40 "$OUT/streamprof.txt"
  exit 0
fi
if [ "${1:-}" = rowcheck ]; then
  # The HBM forward's row pass as now set (rows of 4096 points: one per program, 4 warps, 168 registers, lazy)
  # against no register cap and against the table before (two rows, 8 warps, held): do_bench, the host's wall
  # time per call and the CUDA kernels' time per call (torch.profiler), at the streaming shape and L = 2.3M;
  # then every GPU test in one process (-v, to $OUT/tests.txt).
  timeout 150 python3 - <<'PY' 2>&1 | tee "$OUT/rowcheck.txt"
import os, torch
from torch.profiler import ProfilerActivity, profile
from dnaconv.kernels.fftconv import fftconv, naive_fftconv
from dnaconv.pipelines.ab import bench, gated_inputs, kernel_times, wall
CFGS = {"now": {}, "nocap": {"DNACONV_MONARCH_MAXNREG": "0"},
        "before": {"DNACONV_MONARCH_ROWS": "128", "DNACONV_HBM_LAZY": "0"}}
def kernels(fn, n=10):
    per = kernel_times(fn, n, warmup=0)
    return sum(per.values()), per
for B, D, L, K in ((1, 128, 73727, 8192), (1, 32, 2_300_000, 8192), (1, 32, 2_300_000, 16384)):
    u, k, bias, pre, post, dy = gated_inputs(B, D, L, K, grad=False)
    args = (u, k, bias, pre, post)
    with torch.no_grad():
        line = [f"torch {bench(lambda: naive_fftconv(*args)):.3f}"]
        for rep in range(2):
            for name, env in CFGS.items():
                os.environ.update(env)
                fn = lambda: fftconv(*args)
                t = bench(fn)
                if rep:
                    dev, per = kernels(fn)
                    rows = " ".join(f"{kk} {v:.3f}" for kk, v in per.items())
                    line.append(f"\n  {name}: bench {t:.3f} wall {wall(fn):.3f} kernels {dev:.3f} ({rows})")
                else:
                    line.append(f"{name} {t:.3f}")
                for key in env:
                    del os.environ[key]
    print(f"{B}x{D}x{L} K={K} fwd: " + " ".join(line), flush=True)
    del u, k, bias, pre, post, dy, args
    torch.cuda.empty_cache()
PY
  timeout 430 python3 -m pytest -v -rf --tb=short --durations=10 -p no:cacheprovider tests/kernels tests/test_streaming.py \
    tests/test_pipelines.py --deselect tests/test_pipelines.py::test_kernel_regs_compiles_for_sm90_without_a_gpu \
    > "$OUT/tests.txt" 2>&1
  grep -cE "PASSED" "$OUT/tests.txt"; grep -E "FAILED|ERROR" "$OUT/tests.txt" | head -20; tail -3 "$OUT/tests.txt"
  exit 0
fi
if [ "${1:-}" = pending ]; then
  # The GPU tests (on $DNACONV_TEST_WORKERS processes, see h200_setup.sh), then the modes in $MODES (e.g.
  # MODES="table"; none by default). All of them took more than one call's time on 2026-11-29 (121 of 185 in
  # 420 s), so PART=1 runs the FFT-convolution and HBM tests (82), PART=2 the rest (the on-chip kernel, short
  # convolution, streaming and pipeline tests), in calls of their own (PART=2a: the on-chip kernel's, 2b: the
  # rest of 2; 1s: PART=1 and the streaming tests; hbm: the HBM kernels' file; g: the grid and int32 tests, about 60 GB
  # of GPU memory at their largest); no PART: all.
  # (the register report's test compiles for sm_90 on the CPU: CI runs it; here it cost 27 s)
  case "${PART:-}" in
    1) tests="tests/kernels/test_fftconv.py tests/kernels/test_fftconv_hbm.py" ;;
    1s) tests="tests/kernels/test_fftconv.py tests/kernels/test_fftconv_hbm.py tests/test_streaming.py" ;;
    2) tests="tests/kernels/test_fftconv_monarch.py tests/kernels/test_shortconv.py tests/test_streaming.py tests/test_pipelines.py" ;;
    2a) tests="tests/kernels/test_fftconv_monarch.py" ;;
    2b) tests="tests/kernels/test_shortconv.py tests/test_streaming.py tests/test_pipelines.py" ;;
    g) tests="tests/kernels/test_fftconv_grid.py" ;;
    hbm) tests="tests/kernels/test_fftconv_hbm.py" ;;
    *) tests="tests/kernels tests/test_streaming.py tests/test_pipelines.py" ;;
  esac
  timeout "${TEST_S:-480}" python3 -m pytest -q -rf --tb=short --durations=15 -p no:cacheprovider $tests \
    --deselect tests/test_pipelines.py::test_kernel_regs_compiles_for_sm90_without_a_gpu > "$OUT/tests.txt" 2>&1
  tail -22 "$OUT/tests.txt"
  for mode in ${MODES-}; do bash "$0" "$mode"; done
  exit 0
fi
if [ "${1:-}" = split ]; then
  # The opt-in split backward (DNACONV_MONARCH_SPLIT=1: causal and anti-causal frames in two launches) against
  # the fused one: the backward alone per FFT size with gradient errors against the fp32 reference; then fwd+bwd
  # with torch.fft, including K = 2048 and full L = 2K, where only the split backward runs on chip (N = 4096).
  timeout 400 python3 - <<'PY' 2>&1 | tee "$OUT/split.txt"
import os, torch, triton
from dnaconv.kernels.fftconv import fftconv, naive_fftconv
from dnaconv.kernels.fftconv.monarch import _fftconv_bwd
bench = lambda fn: triton.testing.do_bench(fn, return_mode="median")
rel = lambda a, b: ((a.float() - b).norm() / b.norm()).item()
def inputs(B, D, L, K, grad=False):
    torch.manual_seed(0)
    u, pre, post = (torch.randn(B, D, L, device="cuda", dtype=torch.bfloat16, requires_grad=grad) for _ in range(3))
    k = (torch.randn(D, K, device="cuda") / K**0.5).requires_grad_(grad)
    return u, k, torch.randn(D, device="cuda", requires_grad=grad), pre, post, torch.randn(B, D, L, device="cuda", dtype=torch.bfloat16)
for name, shape, n in (("K=128", (1, 32, 2_300_000, 128), 1024), ("K=512", (1, 32, 2_300_000, 512), 2048),
                       ("full L=1K", (64, 1024, 1024, 1024), 2048), ("K=2048", (1, 32, 2_300_000, 2048), 4096)):
    u, k, bias, pre, post, dy = inputs(*shape)
    os.environ["DNACONV_MONARCH_FFT"] = str(n)
    xs = [x.detach().float().requires_grad_() for x in (u, k, bias, pre, post)]
    ref = torch.autograd.grad(naive_fftconv(*xs), xs, dy.float())
    line = []
    for split in ("0", "1", "0", "1") if n < 4096 else ("1", "1"):
        os.environ["DNACONV_MONARCH_SPLIT"] = split
        t = bench(lambda: _fftconv_bwd(dy, u, k, bias, pre, post, None))
        err = max(rel(a, b) for a, b in zip(_fftconv_bwd(dy, u, k, bias, pre, post, None), ref))
        line.append(f"split{split} {t:.3f} (err {err:.1e})")
    t = bench(lambda: torch.autograd.grad(naive_fftconv(*xs), xs, dy.float()))
    del os.environ["DNACONV_MONARCH_FFT"], os.environ["DNACONV_MONARCH_SPLIT"]
    print(f"bwd {name} N={n}: " + " ".join(line) + f" (fp32 reference autograd {t:.3f})", flush=True)
    del u, k, bias, pre, post, dy, xs, ref
for name, shape in (("K=128", (1, 32, 2_300_000, 128)), ("K=1024", (1, 32, 2_300_000, 1024)),
                    ("K=2048", (1, 32, 2_300_000, 2048)), ("full 1K", (64, 1024, 1024, 1024)), ("full 2K", (32, 1024, 2048, 2048))):
    u, k, bias, pre, post, dy = inputs(*shape, grad=True)
    line = [f"torch {bench(lambda: naive_fftconv(u, k, bias, pre, post).backward(dy)):.3f}"]
    for split in ("0", "1", "0", "1"):
        os.environ["DNACONV_MONARCH_SPLIT"] = split
        line.append(f"split{split} {bench(lambda: fftconv(u, k, bias, pre, post).backward(dy)):.3f}")
    del os.environ["DNACONV_MONARCH_SPLIT"]
    print(f"fwd+bwd {name}: " + " ".join(line), flush=True)
PY
  exit 0
fi
if [ "${1:-}" = savez ]; then
  # fwd+bwd (bf16 gated) with the forward storing z = conv + bias * v for the backward's d(post)
  # (DNACONV_MONARCH_SAVEZ=1, one transform fewer per backward block) against recomputing it (=0), interleaved,
  # with torch.fft; then the on-chip kernel tests on the GPU.
  timeout 220 python3 - <<'PY' 2>&1 | tee "$OUT/savez.txt"
from dnaconv.kernels.fftconv import fftconv, naive_fftconv
from dnaconv.pipelines.ab import bench, gated_inputs, interleaved
for name, shape in (("K=128", (1, 32, 2_300_000, 128)), ("K=256", (1, 32, 2_300_000, 256)),
                    ("K=512", (1, 32, 2_300_000, 512)), ("K=1024", (1, 32, 2_300_000, 1024)),
                    ("K=2048", (1, 32, 2_300_000, 2048)), ("full 512", (128, 1024, 512, 512)),
                    ("full 1K", (64, 1024, 1024, 1024)), ("8192 K=128", (32, 256, 8192, 128)),
                    ("8192 K=1024", (32, 256, 8192, 1024))):
    u, k, bias, pre, post, dy = gated_inputs(*shape)
    line = [f"torch {bench(lambda: naive_fftconv(u, k, bias, pre, post).backward(dy)):.3f}"]
    line += interleaved("DNACONV_MONARCH_SAVEZ", "1010", lambda: fftconv(u, k, bias, pre, post).backward(dy), "z")
    print(f"fwd+bwd {name}: " + " ".join(line), flush=True)
    del u, pre, post, k, bias, dy
PY
  timeout 300 python3 -m pytest -q -rf --tb=short -p no:cacheprovider tests/kernels/test_fftconv_monarch.py \
    tests/kernels/test_fftconv.py > "$OUT/tests.txt" 2>&1
  tail -5 "$OUT/tests.txt"
  exit 0
fi
if [ "${1:-}" = bwdhalf ]; then
  # The backward on half tiles (now the default) for sequences of one block (DNACONV_MONARCH_BWD_HALF=1) against the
  # default, full-length filters (bf16 gated, B*D*L = 2^26): fwd+bwd interleaved with torch.fft; then the
  # backward alone (z saved) at 64 and 128 rows per product (128 with 4096 points per program: twice the
  # segments per program at N = 1024, which its 176 registers may now allow).
  timeout 300 python3 - <<'PY' 2>&1 | tee "$OUT/bwdhalf.txt"
import os, torch
from dnaconv.kernels.fftconv import fftconv, naive_fftconv
from dnaconv.kernels.fftconv.monarch import _fftconv_bwd, _fftconv_fwd
from dnaconv.pipelines.ab import bench, gated_inputs, interleaved
for name, (B, D, L) in (("full 512", (128, 1024, 512)), ("full 1K", (64, 1024, 1024)), ("full 1K x256", (256, 256, 1024))):
    u, k, bias, pre, post, dy = gated_inputs(B, D, L, L)
    line = [f"torch {bench(lambda: naive_fftconv(u, k, bias, pre, post).backward(dy)):.3f}"]
    line += interleaved("DNACONV_MONARCH_BWD_HALF", "0101", lambda: fftconv(u, k, bias, pre, post).backward(dy), "half")
    print(f"fwd+bwd {name}: " + " ".join(line), flush=True)
    args = [x.detach() for x in (u, k, bias, pre, post)]
    z = torch.empty_like(u)
    _fftconv_fwd(*args, None, None, 1.0, z)
    ref = [g.float() for g in _fftconv_bwd(dy, *args, None, None, z)]
    line = []
    for half, rows in (("0", "64"), ("1", "64"), ("1", "128"), ("0", "64"), ("1", "64"), ("1", "128")):
        os.environ["DNACONV_MONARCH_BWD_HALF"], os.environ["DNACONV_MONARCH_ROWS"] = half, rows
        os.environ["DNACONV_MONARCH_BWD_POINTS"] = str(32 * int(rows))  # 128 rows: G = 4 at N = 1024
        t = bench(lambda: _fftconv_bwd(dy, *args, None, None, z))
        err = max(((a.float() - b).norm() / b.norm()).item() for a, b in zip(_fftconv_bwd(dy, *args, None, None, z), ref))
        line.append(f"half{half}/r{rows} {t:.3f} (vs default {err:.1e})")
    for var in ("DNACONV_MONARCH_BWD_HALF", "DNACONV_MONARCH_ROWS", "DNACONV_MONARCH_BWD_POINTS"):
        del os.environ[var]
    print(f"bwd alone {name}: " + " ".join(line), flush=True)
    del u, pre, post, k, bias, dy, args, z, ref
PY
  exit 0
fi
if [ "${1:-}" = hbmpair ]; then
  # The HBM kernels with two real segments of a channel per complex block (DNACONV_HBM_PAIR=1: half the
  # intermediate and the programs) against one per block, interleaved, with torch.fft, bf16 gated; partial
  # filters, the streaming shape, full-length filters with B = 4 (pairs across the batch) and B = 1 (none).
  timeout 300 python3 - <<'PY' 2>&1 | tee "$OUT/hbmpair.txt"
import os, torch
from dnaconv.kernels.fftconv import fftconv, naive_fftconv
from dnaconv.pipelines.ab import bench, gated_inputs, interleaved
for name, shape in (("K=4096", (1, 32, 2_300_000, 4096)), ("K=8192", (1, 32, 2_300_000, 8192)),
                    ("K=16K", (1, 32, 2_300_000, 16384)), ("K=64K L=1M", (1, 64, 1 << 20, 65536)),
                    ("stream K=8192", (1, 128, 73727, 8192)), ("full 16K B=4", (4, 1024, 16384, 16384)),
                    ("full 64K B=1", (1, 1024, 65536, 65536))):
    u, k, bias, pre, post, dy = gated_inputs(*shape, grad=False)
    with torch.no_grad():
        ref = naive_fftconv(u, k, bias, pre, post).float()
        line = [f"torch {bench(lambda: naive_fftconv(u, k, bias, pre, post)):.3f}"]
        line += interleaved("DNACONV_HBM_PAIR", "0101", lambda: fftconv(u, k, bias, pre, post), "pair")
        for pair in "01":
            os.environ["DNACONV_HBM_PAIR"] = pair
            y = fftconv(u, k, bias, pre, post).float()
            line.append(f"err{pair} {((y - ref).norm() / ref.norm()).item():.1e}")
        del os.environ["DNACONV_HBM_PAIR"], y, ref
    print(f"fwd {name}: " + " ".join(line), flush=True)
    if name in ("K=8192", "K=16K", "stream K=8192"):
        # the HBM backward (forced) (z from the forward by default), paired or not; then z saved or recomputed
        u, k, bias, pre, post, dy = gated_inputs(*shape)
        os.environ["DNACONV_HBM_BWD"] = "1"
        step = lambda: fftconv(u, k, bias, pre, post).backward(dy)
        line = [f"torch {bench(lambda: naive_fftconv(u, k, bias, pre, post).backward(dy)):.3f}"]
        line += interleaved("DNACONV_HBM_PAIR", "0101", step, "pair")
        os.environ["DNACONV_HBM_PAIR"] = "1"
        line += interleaved("DNACONV_MONARCH_SAVEZ", "1010", step, "pair1 z")
        del os.environ["DNACONV_HBM_BWD"], os.environ["DNACONV_HBM_PAIR"]
        print(f"fwd+bwd (DNACONV_HBM_BWD=1) {name}: " + " ".join(line), flush=True)
    del u, k, bias, pre, post, dy
# Filters that fit on chip at N = 4096 (half of each block overlap at K = 2048) through HBM blocks of 8192
# (3/4 new outputs), paired or not, against the on-chip kernel: whether the plan should prefer HBM there.
from dnaconv.kernels.fftconv.monarch_hbm import hbm_fftconv_fwd
from dnaconv.kernels.fftconv.plan import hbm_plan
for K in (1024, 2048):
    u, k, bias, pre, post, dy = gated_inputs(1, 32, 2_300_000, K, grad=False)
    with torch.no_grad():
        line = [f"on chip {bench(lambda: fftconv(u, k, bias, pre, post)):.3f}"]
        line += interleaved("DNACONV_HBM_PAIR", "0101", lambda: hbm_fftconv_fwd(u, k, bias, pre, post, plan=hbm_plan(2_300_000, K)), "hbm pair")
    print(f"fwd K={K} L=2.3M, N = {hbm_plan(2_300_000, K).n} through HBM: " + " ".join(line), flush=True)
    del u, k, bias, pre, post, dy
PY
  exit 0
fi
if [ "${1:-}" = points ]; then
  # The data of plan.POINT_PS with the defaults of 2026-11-29 (packed ACROSS, z saved, the half-tile backward,
  # HBM pairs): ps per transformed point at L = 2.3M x 32 channels, bf16 gated, on chip at each N (forward,
  # K = 128; backward with z) and through HBM (K = 2048, paired); then fwd+bwd per L with the HBM backward
  # (DNACONV_HBM_BWD=1) against without (=0: the reference, or the split backward at K = 2048 from 2^20):
  # where plan.HBM_BWD_MIN_SIZE first came from.
  timeout 420 python3 - <<'PY' 2>&1 | tee "$OUT/points.txt"
import json, os
from dnaconv.pipelines.ab import fwd_bwd_knob, point_costs
out = point_costs(backward=True)
json.dump(out, open(os.path.join(os.environ.get("OUT", "/tmp"), "points.json"), "w"), indent=1)
for K in (2048, 4096, 8192):
    for L in (1 << 16, 1 << 18, 1 << 19, 1 << 20, 2_300_000):
        B = max(1, (1 << 26) // (32 * L))
        line = fwd_bwd_knob((B, 32, L, K), "DNACONV_HBM_BWD", "1010", "hbm")
        print(f"fwd+bwd K={K} L={L} B={B}: " + line, flush=True)
PY
  exit 0
fi
if [ "${1:-}" = onepair ]; then
  # Full-length filters in one HBM block (N >= 16384), which triton_pays sends to torch.fft (unpaired, 0.95x at
  # 16K down to 0.62x at 4M, 2026-11-28): with pairs across the batch (B >= 2), the HBM forward (monarch_fftconv,
  # bypassing the dispatch) against torch.fft; fwd+bwd with the HBM backward forced (DNACONV_HBM_BWD=1) or the
  # reference's (=0), interleaved; the default model's training shape (16 x 128 x 8192, K = 8192) first.
  timeout 300 python3 - <<'PY' 2>&1 | tee "$OUT/onepair.txt"
import os, torch
from dnaconv.kernels.fftconv import naive_fftconv
from dnaconv.kernels.fftconv.monarch import monarch_fftconv
from dnaconv.kernels.fftconv.plan import fft_plan
from dnaconv.pipelines.ab import bench, gated_inputs, interleaved
for B, D, L in ((16, 128, 8192), (8, 512, 16384), (4, 256, 65536), (2, 128, 262144), (2, 32, 1 << 20), (4, 16, 1 << 20)):
    u, k, bias, pre, post, dy = gated_inputs(B, D, L, L)
    p = fft_plan(L, L)
    with torch.no_grad():
        ref = naive_fftconv(u, k, bias, pre, post).float()
        err = ((monarch_fftconv(u, k, bias, pre, post).float() - ref).norm() / ref.norm()).item()
        line = [f"N={p.n} cols {p.cols} err {err:.1e}", f"fwd torch {bench(lambda: naive_fftconv(u, k, bias, pre, post)):.3f}",
                f"hbm {bench(lambda: monarch_fftconv(u, k, bias, pre, post)):.3f}"]
        del ref
    line.append(f"fwd+bwd torch {bench(lambda: naive_fftconv(u, k, bias, pre, post).backward(dy)):.3f}")
    line += interleaved("DNACONV_HBM_BWD", "1010", lambda: monarch_fftconv(u, k, bias, pre, post).backward(dy), "hbm fwd, bwd hbm")
    print(f"full {B}x{D}x{L} ({B * D * L / 2**20:.0f}M): " + " ".join(line), flush=True)
    del u, k, bias, pre, post, dy
PY
  exit 0
fi
if [ "${1:-}" = onebwd ]; then
  # The HBM backward over one block per sequence, paired across the batch (plan.backward_kind's batch rule), for
  # full-length filters: fwd+bwd with it forced (DNACONV_HBM_BWD=1) against =0 (torch.fft, or the fused on-chip
  # backward at L = 1K), interleaved, gradients reset before each call; what accumulating them (as the earlier
  # timings did) costs; then ncu over one fwd+bwd at L = 2.3M x 32, K = 8192 (the HBM kernels). GPU tests first.
  timeout 150 python3 -m pytest -q -rf --tb=short -p no:cacheprovider tests/kernels/test_fftconv.py tests/kernels/test_fftconv_hbm.py 2>&1 | tail -4
  timeout 330 python3 - <<'PY' 2>&1 | tee "$OUT/onebwd.txt"
import torch
from dnaconv.kernels.fftconv.plan import backward_kind
from dnaconv.pipelines.ab import fwd_bwd_knob
for B, D, L in ((16, 128, 8192), (8, 128, 8192), (4, 128, 8192), (32, 1024, 2048), (16, 1024, 2048), (8, 1024, 2048),
                (16, 1024, 4096), (8, 1024, 4096), (8, 512, 16384), (4, 256, 65536), (2, 128, 262144), (2, 32, 1 << 20),
                (64, 1024, 1024)):
    try:
        line = fwd_bwd_knob((B, D, L, L), "DNACONV_HBM_BWD", ["0", "1", "0", "1"], "hbm=")
        print(f"full {B}x{D}x{L} ({B * D * L / 2**20:.0f}M) default={backward_kind(L, L, 0, 1.0, B * D * L, B)}: " + line, flush=True)
    except Exception as e:
        print(f"full {B}x{D}x{L}: fail {type(e).__name__}: {str(e)[:200]}", flush=True)
    torch.cuda.empty_cache()
for B, D, L, K in ((1, 32, 2_300_000, 8192), (1, 32, 2_300_000, 16384), (32, 1024, 2048, 2048), (1, 32, 2_300_000, 1024)):
    reset = fwd_bwd_knob((B, D, L, K), "DNACONV_HBM_BWD", ["", ""], "default")
    acc = fwd_bwd_knob((B, D, L, K), "DNACONV_HBM_BWD", ["", ""], "default", accumulate=True)
    print(f"grads {B}x{D}x{L} K={K}: reset: {reset} | accumulated: {acc}", flush=True)
    torch.cuda.empty_cache()
PY
  ncu_step '_col_|_row_|_gates_|_inputs_' 9 "$OUT/ncu_k8192.txt" --section LaunchStats
  grep -E "^  _|Duration|DRAM Throughput|Memory Throughput|Achieved Occupancy|Theoretical Occupancy|Registers Per|Block Limit Reg|Grid Size|Stall|Warp Cycles Per Issued|L1/TEX Hit|L2 Hit|Mem Busy|Max Bandwidth|Compute \(SM\) Th" "$OUT/ncu_k8192.txt" | head -150
  exit 0
fi
if [ "${1:-}" = trig ]; then
  # The column passes with the hardware's approximate sine/cosine for their twiddles and a scale per column
  # (the working tree) against the version before (build/base_hbm.py, carried: git show of
  # kernels/fftconv/monarch_hbm.py before the change), interleaved in one process: the HBM forward, the HBM
  # backward alone (its column passes swapped for the base's) and fwd+bwd; DNACONV_HBM_TRIG=precise alone; the
  # forward's error against fp32 torch.fft for both. Then ncu of one fwd+bwd at K = 8192. GPU tests first.
  DNACONV_TEST_WORKERS=4 timeout 280 python3 -m pytest -q -rf --tb=short -p no:cacheprovider -n 4 tests/kernels/test_fftconv.py \
    tests/kernels/test_fftconv_hbm.py tests/test_streaming.py tests/test_pipelines.py \
    --deselect tests/test_pipelines.py::test_kernel_regs_compiles_for_sm90_without_a_gpu > "$OUT/tests.txt" 2>&1
  tail -4 "$OUT/tests.txt"
  timeout 300 python3 - <<'PY' 2>&1 | tee "$OUT/trig.txt"
import importlib.util, os, torch
import dnaconv.kernels.fftconv.monarch_hbm as new
import dnaconv.kernels.fftconv.monarch_hbm_bwd as bwd
from dnaconv.kernels.fftconv import fftconv, naive_fftconv
from dnaconv.pipelines.ab import bench, gated_inputs
spec = importlib.util.spec_from_file_location("base_hbm", "build/base_hbm.py")
base = importlib.util.module_from_spec(spec)
spec.loader.exec_module(base)
rel = lambda a, b: ((a.float() - b.float()).norm() / b.float().norm()).item()
for B, D, L, K in ((1, 32, 2_300_000, 4096), (1, 32, 2_300_000, 8192), (1, 32, 2_300_000, 16384), (1, 64, 1 << 20, 65536),
                   (1, 128, 73727, 8192), (16, 128, 8192, 8192), (16, 1024, 4096, 4096), (1, 32, 2_300_000, 1024)):
    u, k, bias, pre, post, dy = gated_inputs(B, D, L, K)
    args = [x.detach() for x in (u, k, bias, pre, post)]
    line = []
    with torch.no_grad():
        ref = naive_fftconv(*[x.float() for x in args])
        e_new, e_base = rel(new.hbm_fftconv_fwd(*args), ref), rel(base.hbm_fftconv_fwd(*args), ref)
        del ref
        f_new, f_base = (lambda: new.hbm_fftconv_fwd(*args)), (lambda: base.hbm_fftconv_fwd(*args))
        line.append(f"fwd new {bench(f_new):.3f} base {bench(f_base):.3f} new {bench(f_new):.3f} base {bench(f_base):.3f}"
                    f" (err new {e_new:.2e} base {e_base:.2e})")
        os.environ["DNACONV_HBM_TRIG"] = "precise"
        line.append(f"precise-trig fwd {bench(f_new):.3f}")
        del os.environ["DNACONV_HBM_TRIG"]
        z = torch.empty_like(u)
        new.hbm_fftconv_fwd(*args, z=z)
        b_run = lambda: bwd.hbm_fftconv_bwd(dy, *args, None, z)
        ts = []
        for m in (new, base, new, base):
            bwd._columns, bwd._inverse_columns = m._columns, m._inverse_columns
            ts.append(bench(b_run))
        bwd._columns, bwd._inverse_columns = new._columns, new._inverse_columns
        g_new = b_run()
        bwd._columns, bwd._inverse_columns = base._columns, base._inverse_columns
        g_base = b_run()
        bwd._columns, bwd._inverse_columns = new._columns, new._inverse_columns
        line.append("bwd alone new {:.3f} base {:.3f} new {:.3f} base {:.3f}".format(*ts)
                    + f" (diff du {rel(g_new[0], g_base[0]):.1e} dk {rel(g_new[1], g_base[1]):.1e})")
        del z, g_new, g_base
    leaves = [u, k, bias, pre, post]
    step = lambda: fftconv(u, k, bias, pre, post).backward(dy)
    line.append(f"| fwd+bwd torch {bench(lambda: naive_fftconv(u, k, bias, pre, post).backward(dy), leaves):.3f} new {bench(step, leaves):.3f}")
    print(f"{B}x{D}x{L} K={K}: " + " ".join(line), flush=True)
    del u, k, bias, pre, post, dy, args
    torch.cuda.empty_cache()
PY
  ncu_step _col_ 5 "$OUT/ncu_cols.txt" --section InstructionStats
  grep -E "^  _|Duration|DRAM Throughput|Achieved Occupancy|Registers Per|Compute \(SM\) Th|Executed Instructions  |L1/TEX Hit|Mem Busy|Warp Cycles Per Issued" "$OUT/ncu_cols.txt" | head -80
  exit 0
fi
if [ "${1:-}" = vrev ]; then
  # v reversed (fp32) by the gates kernel for the backward's column pass of v's frames (the default) against
  # that pass reading u and pre in reversed order (DNACONV_HBM_VREV=0), the backward alone and fwd+bwd,
  # interleaved, with their largest gradient difference; the column passes' columns per program
  # (DNACONV_HBM_COLS) with today's twiddles, forward. GPU tests first (8 processes).
  timeout 300 python3 -m pytest -q -rf --tb=short -p no:cacheprovider -n 8 tests/kernels/test_fftconv.py \
    tests/kernels/test_fftconv_hbm.py tests/test_streaming.py tests/test_pipelines.py \
    --deselect tests/test_pipelines.py::test_kernel_regs_compiles_for_sm90_without_a_gpu > "$OUT/tests.txt" 2>&1
  tail -2 "$OUT/tests.txt"
  timeout 200 python3 - <<'PY' 2>&1 | tee "$OUT/vrev.txt"
import os, torch
from dnaconv.kernels.fftconv import fftconv
from dnaconv.kernels.fftconv.monarch_hbm import hbm_fftconv_fwd
from dnaconv.kernels.fftconv.monarch_hbm_bwd import hbm_fftconv_bwd
from dnaconv.pipelines.ab import bench, fwd_bwd_knob, gated_inputs, interleaved
rel = lambda a, b: ((a.float() - b.float()).norm() / b.float().norm()).item()
for B, D, L, K in ((1, 32, 2_300_000, 8192), (1, 32, 2_300_000, 4096), (1, 32, 2_300_000, 16384), (16, 128, 8192, 8192),
                   (16, 1024, 4096, 4096), (1, 64, 1 << 20, 65536)):
    u, k, bias, pre, post, dy = gated_inputs(B, D, L, K)
    args = [x.detach() for x in (u, k, bias, pre, post)]
    z = torch.empty_like(u)
    with torch.no_grad():
        hbm_fftconv_fwd(*args, z=z)
        run = lambda: hbm_fftconv_bwd(dy, *args, None, z)
        line = interleaved("DNACONV_HBM_VREV", ["1", "0", "1", "0"], run, "bwd vrev=")
        a = run()
        os.environ["DNACONV_HBM_VREV"] = "0"
        b = run()
        del os.environ["DNACONV_HBM_VREV"]
        line.append(f"(diff du {rel(a[0], b[0]):.1e} dk {rel(a[1], b[1]):.1e} dpre {rel(a[3], b[3]):.1e})")
        if L > 1 << 20:
            line += interleaved("DNACONV_HBM_COLS", ["32", "64", "128", "32", "64", "128"], lambda: hbm_fftconv_fwd(*args), "fwd cols=")
        del a, b, z, args
    line.append("| fwd+bwd " + fwd_bwd_knob((B, D, L, K), "DNACONV_HBM_VREV", ["1", "0", "1", "0"], "vrev="))
    print(f"{B}x{D}x{L} K={K}: " + " ".join(line), flush=True)
    del u, k, bias, pre, post, dy
    torch.cuda.empty_cache()
PY
  ncu_step _col_fwd 3 "$OUT/ncu_colfwd.txt"
  grep -E "^  _|Duration|DRAM Throughput|Mem Busy|L1/TEX Hit" "$OUT/ncu_colfwd.txt" | head -30
  exit 0
fi
if [ "${1:-}" = spec ]; then
  # The filter spectrum's gather-and-scale kernel (monarch._spectrum_kernel, the default) against the torch ops
  # before it (DNACONV_SPECTRUM=torch), interleaved: forward (and fwd+bwd at K = 8192) with torch.fft, the
  # host's wall time per call at the host-bound shapes, forward errors; then GPU tests: the spectrum's, then
  # the dispatch tests, as time allows (-v).
  timeout 150 python3 - <<'PY' 2>&1 | tee "$OUT/spec.txt"
import os, torch
from dnaconv.kernels.fftconv import fftconv, naive_fftconv
from dnaconv.pipelines.ab import bench, config_errors, gated_inputs, interleaved_envs, wall
CFGS = {"kernel": {}, "torch": {"DNACONV_SPECTRUM": "torch"}}
for B, D, L, K in ((1, 128, 73727, 8192), (16, 128, 8192, 8192), (1, 32, 2_300_000, 8192), (1, 32, 2_300_000, 16384),
                   (1, 32, 2_300_000, 128), (32, 256, 8192, 1024)):
    u, k, bias, pre, post, dy = gated_inputs(B, D, L, K, grad=False)
    args = (u, k, bias, pre, post)
    with torch.no_grad():
        errs = config_errors(lambda: fftconv(*args), naive_fftconv(*(x.float() for x in args)), CFGS)
        fn = lambda: fftconv(*args)
        line = [f"torch.fft {bench(lambda: naive_fftconv(*args)):.3f}", interleaved_envs(fn, CFGS, 3)]
        if L < 1 << 20:
            walls = []
            for name, env in list(CFGS.items()) * 2:
                os.environ.update(env)
                walls.append(f"{name} {wall(fn):.3f}")
                for key in env:
                    del os.environ[key]
            line.append("| wall " + " ".join(walls))
    print(f"{B}x{D}x{L} K={K} fwd: " + " ".join(line + errs), flush=True)
    if K == 8192 and L > 1 << 20:
        del u, k, bias, pre, post, dy, args
        u, k, bias, pre, post, dy = gated_inputs(B, D, L, K)
        leaves = [u, k, bias, pre, post]
        fb = interleaved_envs(lambda: fftconv(u, k, bias, pre, post).backward(dy), CFGS, 3, leaves)
        print(f"{B}x{D}x{L} K={K} fwd+bwd: {fb}", flush=True)
    del u, k, bias, pre, post, dy
    torch.cuda.empty_cache()
PY
  timeout "${TEST_S:-200}" python3 -m pytest -v -rf --tb=short -p no:cacheprovider \
    tests/kernels/test_fftconv_monarch.py::test_spectrum_kernel_equals_torch tests/kernels/test_fftconv.py \
    > "$OUT/tests.txt" 2>&1
  grep -c PASSED "$OUT/tests.txt"; grep -E "FAILED|ERROR" "$OUT/tests.txt" | head; tail -2 "$OUT/tests.txt"
  exit 0
fi
if [ "${1:-}" = rowsize ]; then
  # Session 6. (1) The DFT matrices stored in fp16 for half inputs (now) against fp32 (DNACONV_DFT_HALF=0): the
  # same products, half the bytes the kernels load. (2) The backward's rows capped at 2048 or 1024 points
  # (DNACONV_HBM_BWD_ROW; its dk pass spills at rows of 4096), and the forward's at 2048 (DNACONV_HBM_ROW).
  # Forward, the backward alone (z from the forward) and fwd+bwd, interleaved, with torch.fft and the errors.
  timeout 480 python3 - <<'PY' 2>&1 | tee "$OUT/rowsize.txt"
import torch
from dnaconv.kernels.fftconv import fftconv, naive_fftconv
from dnaconv.kernels.fftconv.monarch_hbm import hbm_fftconv_fwd
from dnaconv.kernels.fftconv.monarch_hbm_bwd import hbm_fftconv_bwd
from dnaconv.pipelines.ab import bench, env_set, forward_against_torch, gated_inputs, interleaved_envs as configs
rel = lambda a, b: ((a.float() - b.float()).norm() / b.float().norm()).item()
F32 = {"DNACONV_DFT_HALF": "0"}
FWD = {"now": {}, "f32mat": F32, "row2048": {"DNACONV_HBM_ROW": "2048"}}
BWD = {"now": {}, "f32mat": F32, "brow2048": {"DNACONV_HBM_BWD_ROW": "2048"},
       "brow1024": {"DNACONV_HBM_BWD_ROW": "1024"}}
for B, D, L, K in ((1, 32, 2_300_000, 16384), (1, 64, 1 << 20, 65536), (1, 32, 2_300_000, 8192)):
    u, k, bias, pre, post, dy = gated_inputs(B, D, L, K, grad=False)
    args = (u, k, bias, pre, post)
    errs, t = forward_against_torch(args, FWD)
    with torch.no_grad():
        print(f"{B}x{D}x{L} K={K} fwd: torch {t:.3f} " + configs(lambda: fftconv(*args), FWD, 3)
              + " | " + " ".join(errs), flush=True)
        z = torch.empty_like(u)
        hbm_fftconv_fwd(*args, z=z)
        grads = {}
        for name, env in BWD.items():
            with env_set(env):
                grads[name] = hbm_fftconv_bwd(dy, *args, None, z)
        diff = " ".join(f"{c}:" + ",".join(f"{rel(a, b):.1e}" for a, b in zip(grads[c], grads["now"]))
                        for c in BWD if c != "now")
        del grads
        print(f"{B}x{D}x{L} K={K} bwd: " + configs(lambda: hbm_fftconv_bwd(dy, *args, None, z), BWD, 2)
              + f" | grads vs now (du,dk,dbias,dpre,dpost): {diff}", flush=True)
        del z
    for x in args:
        x.requires_grad_()
    leaves = list(args)
    t = bench(lambda: naive_fftconv(*args).backward(dy), leaves)
    print(f"{B}x{D}x{L} K={K} fwd+bwd: torch {t:.3f} "
          + configs(lambda: fftconv(*args).backward(dy), BWD, 2, leaves), flush=True)
    del u, k, bias, pre, post, dy, args, leaves
    torch.cuda.empty_cache()
# the on-chip kernels: K = 128 at 2.3M (N = 1024), full-length L = 1K (N = 2048) and 2K (N = 4096), windows K = 1024
ONE = {"now": {}, "f32mat": F32}
for B, D, L, K in ((1, 32, 2_300_000, 128), (64, 1024, 1024, 1024), (32, 1024, 2048, 2048), (32, 256, 8192, 1024),
                   (1, 128, 73727, 8192), (16, 1024, 4096, 4096)):
    u, k, bias, pre, post, dy = gated_inputs(B, D, L, K)
    args = (u, k, bias, pre, post)
    errs, t = forward_against_torch(args, ONE)
    with torch.no_grad():
        line = configs(lambda: fftconv(*args), ONE, 3)
    leaves = list(args)
    tb = bench(lambda: naive_fftconv(*args).backward(dy), leaves)
    lb = configs(lambda: fftconv(*args).backward(dy), ONE, 2, leaves)
    print(f"{B}x{D}x{L} K={K} fwd: torch {t:.3f} {line} | fwd+bwd: torch {tb:.3f} {lb} | " + " ".join(errs),
          flush=True)
    del u, k, bias, pre, post, dy, args, leaves
    torch.cuda.empty_cache()
PY
  exit 0
fi
if [ "${1:-}" = bwdpts ]; then
  # Session 6, after the backward's rows were capped at 2048 points: the HBM backward's block size (the backward
  # alone, z from the forward, DNACONV_HBM_FFT, interleaved) and the forward's at K = 8192 and 16K, at L = 2.3M x
  # 32 channels, as ms and ps per block point (plan.POINT_PS's "hbm_bwd" and "hbm").
  timeout 300 python3 - <<'PY' 2>&1 | tee "$OUT/bwdpts.txt"
import torch, triton
from dnaconv.kernels.fftconv.monarch_hbm import hbm_fftconv_fwd
from dnaconv.kernels.fftconv.monarch_hbm_bwd import hbm_fftconv_bwd
from dnaconv.pipelines.ab import gated_inputs, interleaved
L = 2_300_000
def ps(line, K):
    out = []
    for item in line:
        n, ms = item[2:].split()
        pts = 32 * triton.cdiv(L, int(n) - K + 1) * int(n)
        out.append(f"n={n} {float(ms):.3f} ms {float(ms) * 1e9 / pts:.2f} ps")
    return " | ".join(out)
for K, sizes in ((4096, ["16384", "32768", "65536"]), (8192, ["32768", "65536", "131072"]),
                 (16384, ["65536", "131072", "262144"])):
    u, k, bias, pre, post, dy = gated_inputs(1, 32, L, K, grad=False)
    args = (u, k, bias, pre, post)
    z = torch.empty_like(u)
    with torch.no_grad():
        hbm_fftconv_fwd(*args, z=z)
        line = interleaved("DNACONV_HBM_FFT", sizes + sizes, lambda: hbm_fftconv_bwd(dy, *args, None, z), "n=")
        print(f"bwd alone K={K}: " + ps(line, K), flush=True)
        if K >= 8192:
            fs = ["65536", "131072"]
            line = interleaved("DNACONV_HBM_FFT", fs + fs + fs, lambda: hbm_fftconv_fwd(*args), "n=")
            print(f"fwd K={K}: " + ps(line, K), flush=True)
    del u, k, bias, pre, post, dy, args, z
    torch.cuda.empty_cache()
PY
  exit 0
fi
if [ "${1:-}" = chipsweep ]; then
  # Session 6, with the DFT matrices in fp16: the on-chip forward's launch shapes again (rows per product,
  # warps, register cap) and, at N = 4096, the matrices loaded where used (DNACONV_MONARCH_LAZY=1: commit
  # 2010dd5, reverted as slower); the HBM forward's block size at K = 2048 and 4096 (DNACONV_HBM_FFT). Forward
  # ms, interleaved, with torch.fft.
  timeout 260 python3 - <<'PY' 2>&1 | tee "$OUT/chipsweep.txt"
import torch
from dnaconv.kernels.fftconv import fftconv
from dnaconv.kernels.fftconv.monarch_hbm import hbm_fftconv_fwd
from dnaconv.pipelines.ab import forward_against_torch, gated_inputs, interleaved, interleaved_envs as configs
R = "DNACONV_MONARCH_ROWS"; W = "DNACONV_MONARCH_WARPS"; C = "DNACONV_MONARCH_MAXNREG"
N2048 = {"now": {}, "g1w4": {R: "32", W: "4"}, "g1w4c168": {R: "32", W: "4", C: "168"},
         "g2w4c200": {C: "200"}, "g2w8": {W: "8"}}
N4096 = {"now": {}, "lazy": {"DNACONV_MONARCH_LAZY": "1"}, "lazy-g1w8": {"DNACONV_MONARCH_LAZY": "1", R: "64"},
         "g1w8": {R: "64"}, "lazy-c168": {"DNACONV_MONARCH_LAZY": "1", C: "168"}}
N1024 = {"now": {}, "nocap": {C: "0"}, "g2": {R: "64"}, "c200": {C: "200"}}
for B, D, L, K, cfgs in ((64, 1024, 1024, 1024, N2048), (32, 1024, 2048, 2048, N4096),
                         (32, 256, 8192, 1024, N4096), (1, 32, 2_300_000, 128, N1024)):
    u, k, bias, pre, post, dy = gated_inputs(B, D, L, K, grad=False)
    args = (u, k, bias, pre, post)
    errs, t = forward_against_torch(args, {n: cfgs[n] for n in list(cfgs)[:2]})
    with torch.no_grad():
        print(f"{B}x{D}x{L} K={K} fwd: torch {t:.3f} " + configs(lambda: fftconv(*args), cfgs, 3) + " | "
              + " ".join(errs), flush=True)
    del u, k, bias, pre, post, dy, args
    torch.cuda.empty_cache()
for K, sizes in ((2048, ["16384", "65536"]), (4096, ["16384", "65536"])):
    u, k, bias, pre, post, dy = gated_inputs(1, 32, 2_300_000, K, grad=False)
    args = (u, k, bias, pre, post)
    with torch.no_grad():
        line = interleaved("DNACONV_HBM_FFT", sizes * 3, lambda: hbm_fftconv_fwd(*args), "n=")
        print(f"2.3M x 32 K={K} HBM fwd: " + " ".join(line), flush=True)
    del u, k, bias, pre, post, dy, args
PY
  exit 0
fi
if [ "${1:-}" = align ]; then
  # Prepared in session 7, run in session 8 (then made the default): blocks framed with the overlap rounded up
  # to a multiple of 16 (plan.block_overlap), so that the on-chip kernels' and the HBM column passes' bf16
  # reads and writes vectorise, against K' - 1 (DNACONV_FFT_ALIGN=0 since); forward (with errors) and fwd+bwd
  # ms, interleaved, with torch.fft. Session 8's run had "now" = K' - 1 and "align" = DNACONV_FFT_ALIGN=1.
  timeout 300 python3 - <<'PY' 2>&1 | tee "$OUT/align.txt"
from dnaconv.pipelines.ab import forward_sweeps, fwd_bwd_sweeps
A = {"now": {"DNACONV_FFT_ALIGN": "0"}, "align": {}}
cases = ((1, 32, 2_300_000, 128, A), (1, 32, 2_300_000, 256, A), (32, 256, 8192, 128, A),
         (1, 32, 2_300_000, 1024, A), (1, 32, 2_300_000, 4096, A), (1, 32, 2_300_000, 8192, A),
         (1, 32, 2_300_000, 16384, A), (1, 64, 1 << 20, 65536, A), (8, 512, 16384, 16384, A),
         (16, 1024, 4096, 4096, A))
forward_sweeps(cases)
fwd_bwd_sweeps(cases)
PY
  exit 0
fi
if [ "${1:-}" = sweep8 ]; then
  # Session 8, with the aligned block overlaps now the default: the HBM forward's block size, row cap and
  # columns per program again at K = 8192 and 16K; filters of 512 and 1024 taps on chip (DNACONV_MONARCH_FFT=0)
  # against the plan's HBM; forward ms, interleaved, with torch.fft. Then plan.POINT_PS's on-chip (forward and
  # fused backward) and HBM forward rows re-measured (ps per transformed point), then the GPU tests in $PART.
  timeout 330 python3 - <<'PY' 2>&1 | tee "$OUT/sweep8.txt"
import json, os
from dnaconv.pipelines.ab import forward_sweeps, point_costs
F = "DNACONV_HBM_FFT"; ROW = "DNACONV_HBM_ROW"; COLS = "DNACONV_HBM_COLS"
K16 = {"now": {}, "n131k": {F: "131072"}, "row4096": {ROW: "4096"}, "cols64": {COLS: "64"}, "row1024": {ROW: "1024"}}
K8 = {"now": {}, "n32k": {F: "32768"}, "row4096": {ROW: "4096"}, "cols64": {COLS: "64"}}
CHIP = {"now": {}, "chip": {"DNACONV_MONARCH_FFT": "0"}}
forward_sweeps(((1, 32, 2_300_000, 16384, K16), (1, 32, 2_300_000, 8192, K8),
                (1, 32, 2_300_000, 512, CHIP), (1, 32, 2_300_000, 1024, CHIP)))
json.dump(point_costs(backward=True), open(os.path.join(os.environ.get("OUT", "/tmp"), "points8.json"), "w"), indent=1)
PY
  exit 0
fi
if [ "${1:-}" = rows8 ]; then
  # Session 8, after sweep8 (rows of 1024 under a column pass of 64 led at K = 16K): the HBM forward's rows
  # capped at 1024 (DNACONV_HBM_ROW) against the plan's rows wherever one column pass still covers the block,
  # forward ms, interleaved, with torch.fft. Then the README table (table4's bench run and gradient errors).
  timeout 120 python3 - <<'PY' 2>&1 | tee "$OUT/rows8.txt"
from dnaconv.pipelines.ab import forward_sweeps
R = {"now": {}, "row1024": {"DNACONV_HBM_ROW": "1024"}}
forward_sweeps(((1, 32, 2_300_000, 16384, R), (1, 32, 2_300_000, 8192, R), (1, 32, 2_300_000, 4096, R),
                (8, 512, 16384, 16384, R), (1, 128, 73727, 8192, R), (16, 128, 8192, 8192, R)))
PY
  bench_table 330
  timeout 60 python3 -c "from dnaconv.pipelines.ab import grad_errors; grad_errors(((1, 32, 2_300_000, 16384),
    (1, 32, 2_300_000, 1024), (32, 256, 8192, 128)))" 2>&1 | tee "$OUT/grads.txt"
  exit 0
fi
if [ "${1:-}" = chip8 ]; then
  # Session 8: plan.POINT_PS re-measured with aligned overlaps (``sweep8``) prices the on-chip forward at N =
  # 2048 below 1024 per point; filters of 128 taps on chip at N = 2048 against the plan's 1024, forward ms.
  timeout 60 python3 - <<'PY' 2>&1 | tee "$OUT/chip8.txt"
from dnaconv.pipelines.ab import forward_sweeps
N = {"now": {}, "n2048": {"DNACONV_MONARCH_FFT": "2048"}}
forward_sweeps(((1, 32, 2_300_000, 128, N), (32, 256, 8192, 128, N)))
PY
  exit 0
fi
if [ "${1:-}" = s11 ]; then
  # Session 11, a lead for the next: the fused backward on half tiles split into its causal and anti-causal
  # launches (DNACONV_MONARCH_SPLIT=1: z recomputed, as the split backward does; sm_90 builds at N = 4096 on
  # half tiles, 4 warps: one launch spills 496 B, the two 248 and 176) against one launch, fwd+bwd.
  timeout 110 python3 - <<'PY' 2>&1 | tee "$OUT/s11.txt"
from dnaconv.pipelines.ab import fwd_bwd_sweeps
C = {"now": {}, "split": {"DNACONV_MONARCH_SPLIT": "1"}}
fwd_bwd_sweeps(((32, 1024, 2048, 2048, C), (64, 1024, 1024, 1024, C)), reps=2)
PY
  exit 0
fi
if [ "${1:-}" = f13 ]; then
  # Session 13's last call: the README rows of full-length filters paired past N = 2^18 with gradients (the
  # HBM backward, dispatched since b13), then the HBM kernels' GPU tests (their launches changed: NS, R0, KROWS).
  bench_table 150 --case full:2:128:262144:262144 --case full:2:32:1048576:1048576 \
    --case full:2:16:2097152:2097152 --case full:2:8:4194304:4194304
  TEST_S=${TEST_S:-200} PART=hbm bash "$0" pending
  exit 0
fi
if [ "${1:-}" = s14 ]; then
  # Session 14: the on-chip filter spectrum in one kernel on fp16 operands (DNACONV_SPECTRUM=direct16) against
  # the default (the rfft and its gather from N = 2048; 3xtf32 in one kernel up to 1024): forward, then fwd+bwd
  # (the backward takes the forward's spectrum), three rounds interleaved, with torch.fft and the errors. Then
  # one sequence's HBM backward on half its spectrum (DNACONV_HBM_BWD=1) where b13 did not time it (N = 2^15,
  # 2^16, and 2^17 again). Then the on-chip tests listed in $IDS (a file of node ids), if given. As run (commit
  # 3f14c91's parent): since 3f14c91 the fp16 kernel is the default for half inputs and DNACONV_SPECTRUM=direct16
  # no longer exists (it now takes the rfft), so a re-run compares the default with the rfft.
  timeout 300 python3 - <<'PY' 2>&1 | tee "$OUT/s14.txt"
from dnaconv.pipelines.ab import forward_sweeps, fwd_bwd_sweeps
C = {"default": {}, "direct16": {"DNACONV_SPECTRUM": "direct16"}}
forward_sweeps(((64, 1024, 1024, 1024, C), (32, 1024, 2048, 2048, C), (128, 1024, 512, 512, C),
                (1, 32, 2_300_000, 128, C), (32, 256, 8192, 128, C), (32, 256, 8192, 1024, C)))
fwd_bwd_sweeps(((64, 1024, 1024, 1024, C), (128, 1024, 512, 512, C), (32, 1024, 2048, 2048, C)))
H = {"dispatched": {}, "hbm": {"DNACONV_HBM_BWD": "1"}}
fwd_bwd_sweeps(((1, 4096, 1 << 14, 1 << 14, H), (1, 2048, 1 << 15, 1 << 15, H), (1, 1024, 1 << 16, 1 << 16, H)),
               reps=2)
PY
  if [ -n "${IDS:-}" ]; then
    timeout "${TEST_S:-200}" python3 -m pytest -q -rf --tb=short -p no:cacheprovider $(cat "$IDS") \
      > "$OUT/tests.txt" 2>&1
    tail -8 "$OUT/tests.txt"
  fi
  exit 0
fi
if [ "${1:-}" = t14 ]; then
  # Session 14's final code (the on-chip spectrum on fp16 operands for half inputs; one sequence's HBM backward
  # on half its spectrum at N = 2^16, 2^17): the README table, plus the grid's one-sequence row at L = 64K and
  # L = 32K; then the GPU tests of what changed.
  bench_table 330 $TABLE_CASES --case full:1:1024:65536:65536 --case full:1:2048:32768:32768
  gpu_tests "tests/kernels/test_fftconv_grid.py tests/kernels/test_fftconv_monarch.py tests/kernels/test_fftconv_hbm.py" \
    "(forward_on_the_grid and bf16 and (L1024 or L4096)) or (gradients_on_the_grid and (L1024 or L4096 or L65536)) or hbm_backward_one_sequence or direct_spectrum or forward_half or takes_the_forwards_spectrum" \
    "${TEST_S:-220}"
  exit 0
fi
if [ "${1:-}" = v14 ]; then
  # Session 14: what the filter spectrum costs the forward at K = 16K, L = 2.3M x 32 (the 10x row), computed per
  # call vs given (fftconv_spectrum, as a model caches it), three rounds interleaved; then the on-chip kernel's
  # GPU tests and the dispatcher's (run it with DNACONV_TEST_WORKERS=8: on 8 processes).
  timeout 120 python3 - <<'PY' 2>&1 | tee "$OUT/v14.txt"
import torch
from dnaconv.kernels.fftconv import fftconv, fftconv_spectrum, naive_fftconv
from dnaconv.pipelines.ab import bench, gated_inputs
for B, D, L, K in ((1, 32, 2_300_000, 16384), (1, 32, 2_300_000, 8192), (64, 1024, 1024, 1024)):
    u, k, bias, pre, post, _ = gated_inputs(B, D, L, K, grad=False)
    kf = fftconv_spectrum(k, u, 0)
    t = {"per call": [], "given": [], "torch.fft": []}
    for _ in range(3):
        t["per call"].append(bench(lambda: fftconv(u, k, bias, pre, post)))
        t["given"].append(bench(lambda: fftconv(u, k, bias, pre, post, k_f=kf)))
        t["torch.fft"].append(bench(lambda: naive_fftconv(u, k, bias, pre, post)))
    print(f"{B}x{D}x{L} K={K} fwd: " + " ".join(f"{n} {min(v):.3f}" for n, v in t.items()), flush=True)
PY
  gpu_tests \
    "tests/kernels/test_fftconv_monarch.py tests/kernels/test_fftconv.py" "" "${TEST_S:-400}"
  exit 0
fi
if [ "${1:-}" = f14 ]; then
  # Session 14: a cached filter spectrum with the skip term's bias folded in (fftconv_spectrum(..., bias), as the
  # model caches it at inference) against one cached without it (the last HBM pass then adds the skip term) and
  # against computing it per call, forward ms, three rounds interleaved, with torch.fft; then the GPU tests of
  # the cached spectrum and of the streaming runner through the kernels.
  timeout 150 python3 - <<'PY' 2>&1 | tee "$OUT/f14.txt"
import torch
from dnaconv.kernels.fftconv import fftconv, fftconv_spectrum, naive_fftconv
from dnaconv.pipelines.ab import bench, gated_inputs
for B, D, L, K in ((1, 32, 2_300_000, 16384), (1, 32, 2_300_000, 8192), (1, 128, 73727, 8192), (16, 128, 8192, 8192)):
    u, k, bias, pre, post, _ = gated_inputs(B, D, L, K, grad=False)
    plain, folded = fftconv_spectrum(k, u, 0), fftconv_spectrum(k, u, 0, 1.0, bias)
    rel = lambda a, b: ((a.float() - b.float()).norm() / b.float().norm()).item()
    err = rel(fftconv(u, k, bias, pre, post, k_f=folded), fftconv(u, k, bias, pre, post))
    fns = {"per call": lambda: fftconv(u, k, bias, pre, post),
           "cached": lambda: fftconv(u, k, bias, pre, post, k_f=plain),
           "cached folded": lambda: fftconv(u, k, bias, pre, post, k_f=folded),
           "torch.fft": lambda: naive_fftconv(u, k, bias, pre, post)}
    t = {n: [] for n in fns}
    for _ in range(3):
        for n, fn in fns.items():
            t[n].append(bench(fn))
    print(f"{B}x{D}x{L} K={K} fwd: " + " ".join(f"{n} {min(v):.3f}" for n, v in t.items())
          + f" | folded vs per call {err:.1e}", flush=True)
PY
  gpu_tests "tests/kernels/test_fftconv_hbm.py tests/test_streaming.py" \
    "folds_the_bias or given_spectrum or triton or cached" "${TEST_S:-150}"
  exit 0
fi
if [ "${1:-}" = c14 ]; then
  # Session 14: the forward per call and with each side's filter spectrum computed once beforehand (bench
  # --cached: the kernels' folded with the bias, torch.fft's filter_spectrum, the full-length baseline's too),
  # at the partial rows of the README table and full L = 1K.
  timeout 280 dnaconv bench fftconv --dtype bfloat16 --no-backward --cached --json "$OUT/cached.json" \
    --case partial:1:32:2300000:128 --case partial:1:32:2300000:1024 --case partial:1:32:2300000:4096 \
    --case partial:1:32:2300000:8192 --case partial:1:32:2300000:16384 --case partial:1:128:73727:8192 \
    --case partial:1:64:1048576:65536 --case full:64:1024:1024:1024 2>&1 | tee "$OUT/cached.txt"
  exit 0
fi
if [ "${1:-}" = hspec ]; then
  # Written in session 14, run in session 15: an HBM plan's filter spectrum in one kernel from the taps
  # (DNACONV_HBM_SPECTRUM=direct: 3xtf32, =direct16: fp16 operands) against the rfft and its gather, forward ms,
  # three rounds interleaved, with torch.fft and the errors (the 10x row first); then their GPU tests.
  timeout 200 python3 - <<'PY' 2>&1 | tee "$OUT/hspec.txt"
from dnaconv.pipelines.ab import forward_sweeps
C = {"rfft": {}, "direct": {"DNACONV_HBM_SPECTRUM": "direct"}, "direct16": {"DNACONV_HBM_SPECTRUM": "direct16"}}
forward_sweeps(((1, 32, 2_300_000, 16384, C), (1, 32, 2_300_000, 8192, C), (1, 32, 2_300_000, 1024, C),
                (1, 128, 73727, 8192, C), (16, 128, 8192, 8192, C), (8, 512, 16384, 16384, C),
                (1, 64, 1 << 20, 65536, C), (1, 1024, 1 << 16, 1 << 16, C)))
PY
  gpu_tests tests/kernels/test_fftconv_hbm.py "hbm_spectrum" "${TEST_S:-120}"
  exit 0
fi
if [ "${1:-}" = inter15 ]; then
  # Session 15: what an intermediate of half the bytes would gain the HBM forward (DNACONV_HBM_INTER=fp16:
  # unscaled, safe only for inputs of moderate size; =bf16), forward ms, three rounds interleaved, with the
  # errors; then the kernels' GPU time at K = 16K, L = 2.3M x 32 (torch.profiler, 10 calls) with each. Run at
  # commit 41f61af plus the experiment (unscaled fp16 and bf16 were dropped for the scaled fp16 of ``t15``:
  # DNACONV_HBM_INTER now takes fp32, or fp16 for two column levels too).
  timeout 300 python3 - <<'PY' 2>&1 | tee "$OUT/inter15.txt"
import os, torch
from dnaconv.kernels.fftconv import fftconv
from dnaconv.pipelines.ab import forward_sweeps, gated_inputs
C = {"fp32": {}, "fp16": {"DNACONV_HBM_INTER": "fp16"}, "bf16": {"DNACONV_HBM_INTER": "bf16"}}
forward_sweeps(((1, 32, 2_300_000, 16384, C), (1, 32, 2_300_000, 8192, C), (1, 32, 2_300_000, 4096, C),
                (1, 32, 2_300_000, 1024, C), (8, 512, 16384, 16384, C), (16, 1024, 4096, 4096, C),
                (4, 256, 65536, 65536, C), (1, 64, 1 << 20, 65536, C), (1, 128, 73727, 8192, C),
                (16, 128, 8192, 8192, C)))
from dnaconv.pipelines.ab import kernel_times
u, k, bias, pre, post, _ = gated_inputs(1, 32, 2_300_000, 16384, grad=False)
for mode in ("fp32", "fp16"):
    os.environ["DNACONV_HBM_INTER"] = mode
    with torch.no_grad():
        print(mode, kernel_times(lambda: fftconv(u, k, bias, pre, post)), flush=True)
PY
  exit 0
fi
if [ "${1:-}" = t15 ]; then
  # Session 15: the HBM forward's fp16 intermediate with its tile and row scales (the default for half inputs
  # through one column level) against the fp32 one (DNACONV_HBM_INTER=fp32), three rounds interleaved; the
  # README table's rows it changes (every HBM plan: partial K >= 512, full L >= 4K); its GPU tests.
  timeout 150 python3 - <<'PY' 2>&1 | tee "$OUT/t15.txt"
from dnaconv.pipelines.ab import forward_sweeps
C = {"fp16": {}, "fp32": {"DNACONV_HBM_INTER": "fp32"}}
forward_sweeps(((1, 32, 2_300_000, 16384, C), (1, 32, 2_300_000, 4096, C), (8, 512, 16384, 16384, C),
                (16, 1024, 4096, 4096, C), (1, 64, 1 << 20, 65536, C), (1, 1024, 1 << 16, 1 << 16, C)))
PY
  bench_table 270 --case partial:1:32:2300000:16384 --case partial:1:32:2300000:512 \
    --case partial:1:32:2300000:1024 --case partial:1:32:2300000:2048 --case partial:1:32:2300000:4096 \
    --case partial:1:32:2300000:8192 --case partial:1:128:73727:8192 --case partial:1:64:1048576:65536 \
    --case full:16:1024:4096:4096 --case full:16:128:8192:8192 --case full:8:512:16384:16384 \
    --case full:1:1024:65536:65536
  gpu_tests tests/kernels/test_fftconv_hbm.py \
    "half_intermediate or hbm_spectrum or forward_half or hermitian or paired or rows_of" "${TEST_S:-130}"
  exit 0
fi
if [ "${1:-}" = t15b ]; then
  # Session 15: the HBM backward's g and v intermediates in fp16 over their scales (the default for half
  # inputs through one column level) against fp32 (DNACONV_HBM_INTER=fp32, the forward's too), fwd+bwd ms,
  # two rounds interleaved; the README rows whose backward runs through HBM; the HBM kernels' GPU tests (run
  # it with DNACONV_TEST_WORKERS=8).
  timeout 130 python3 - <<'PY' 2>&1 | tee "$OUT/t15b.txt"
from dnaconv.pipelines.ab import fwd_bwd_sweeps
C = {"fp16": {}, "fp32": {"DNACONV_HBM_INTER": "fp32"}}
fwd_bwd_sweeps(((1, 32, 2_300_000, 16384, C), (1, 32, 2_300_000, 4096, C), (8, 512, 16384, 16384, C),
                (16, 1024, 4096, 4096, C), (4, 256, 65536, 65536, C)), reps=2)
PY
  bench_table 170 --case partial:1:32:2300000:16384 --case partial:1:32:2300000:1024 \
    --case partial:1:32:2300000:4096 --case partial:1:32:2300000:8192 --case full:16:1024:4096:4096 \
    --case full:16:128:8192:8192 --case full:8:512:16384:16384 --case full:4:256:65536:65536
  gpu_tests tests/kernels/test_fftconv_hbm.py "" "${TEST_S:-220}"
  exit 0
fi
if [ "${1:-}" = t15c ]; then
  # Session 15's final code (fp16 intermediates with scales in the HBM forward and backward, the HBM spectrum
  # in one kernel): the README table in one run, with the full-length rows at L = 64K; then the GPU tests of
  # what changed (run it with DNACONV_TEST_WORKERS=4).
  bench_table 340 $TABLE_CASES --case full:4:256:65536:65536 --case full:1:1024:65536:65536
  gpu_tests tests/kernels/test_fftconv_hbm.py \
    "half_intermediate or hbm_backward_bf16 or hbm_backward_hermitian or takes_the_forwards or folds_the_bias or hbm_spectrum_in or rows_of" \
    "${TEST_S:-200}"
  exit 0
fi
if [ "${1:-}" = h15 ]; then
  # Session 15: the host-bound shapes (the streaming shape, the training shape), whose bench rows swung 2x
  # between this session's calls: the forward now vs the paths before it (fp32 intermediate, the rfft's
  # spectrum), five rounds interleaved, and the host's time per call alone (host_ms) of each.
  timeout 150 python3 - <<'PY' 2>&1 | tee "$OUT/h15.txt"
import os, torch
from dnaconv.kernels.fftconv import fftconv
from dnaconv.pipelines.ab import env_set, forward_sweeps, gated_inputs, host_ms
C = {"now": {}, "before": {"DNACONV_HBM_INTER": "fp32", "DNACONV_HBM_SPECTRUM": "rfft"}}
forward_sweeps(((1, 128, 73727, 8192, C), (16, 128, 8192, 8192, C)), reps=5)
for B, D, L, K in ((1, 128, 73727, 8192), (16, 128, 8192, 8192)):
    u, k, bias, pre, post, _ = gated_inputs(B, D, L, K, grad=False)
    with torch.no_grad():
        line = []
        for _ in range(2):
            for name, env in C.items():
                with env_set(env):
                    line.append(f"{name} {host_ms(lambda: fftconv(u, k, bias, pre, post)):.3f}")
    print(f"{B}x{D}x{L} K={K} host ms per call:", " ".join(line), flush=True)
PY
  exit 0
fi
if [ "${1:-}" = g15 ]; then
  # Session 15: the issue's grid (test_fftconv_grid.py, against float64 torch.fft) where the fp16
  # intermediates run: bf16 forwards through one column level (full L = 4K, 16K, 64K; K = 4K, 16K, 64K at 1M
  # and 2.3M), gradients at full L = 4K, 16K, K = 4K at 1M, K = 16K at 2.3M, one sequence at L = 64K (run it
  # with DNACONV_TEST_WORKERS=4).
  gpu_tests tests/kernels/test_fftconv_grid.py \
    "(forward_on_the_grid and bf16 and (L4096- or L16384- or L65536-K65536 or L1048576- or L2300000-)) or (gradients_on_the_grid and (L4096- or L16384- or L1048576-K4096 or L2300000-K16384)) or (forward_one_sequence and bf16 and L65536)" \
    "${TEST_S:-270}"
  exit 0
fi
if [ "${1:-}" = r20 ]; then
  # Session 20: the README rows of one block through two column levels (paired and one sequence, 256K-4M) on the
  # final code, where d(post) went back to the torch op after f20.
  bench_table "${TABLE_S:-200}" --case full:2:128:262144:262144 --case full:2:32:1048576:1048576 \
    --case full:2:16:2097152:2097152 --case full:2:8:4194304:4194304 --case full:1:256:262144:262144 \
    --case full:1:64:1048576:1048576 --case full:1:32:2097152:2097152 --case full:1:16:4194304:4194304
  exit 0
fi
if [ "${1:-}" = g21 ]; then
  # Session 21: the on-chip kernel's, fftconv's and the issue's grid's GPU tests on the final code, each xdist
  # worker on its share of the CPU's threads (DNACONV_TEST_WORKERS), within TEST_S seconds.
  gpu_tests "tests/kernels/test_fftconv_monarch.py tests/kernels/test_fftconv.py tests/kernels/test_fftconv_grid.py" "" \
    "${TEST_S:-200}"
  grep -c PASSED "$OUT/tests.txt"; grep -c FAILED "$OUT/tests.txt"
  exit 0
fi
if [ "${1:-}" = sp21 ]; then
  # Session 21: the frequency-sparse forward (f = 1/2, 1/4) on the current kernels beside the dense one and
  # torch.fft (the README's sparse table), then every test of test_fftconv_hbm.py on DNACONV_TEST_WORKERS
  # workers within TEST_S seconds.
  timeout "${SPARSE_S:-140}" dnaconv bench fftconv --dtype bfloat16 --no-backward --fraction 0.5 --fraction 0.25 \
    --case partial:1:32:2300000:128 --case partial:1:32:2300000:512 --case partial:1:32:2300000:1024 \
    --case partial:1:32:2300000:16384 --json "$OUT/sparse.json" 2>&1 | tee "$OUT/sparse.txt"
  gpu_tests tests/kernels/test_fftconv_hbm.py "" "${TEST_S:-300}"
  grep -c PASSED "$OUT/tests.txt"; grep -c FAILED "$OUT/tests.txt"
  exit 0
fi
if [ "${1:-}" = t21b ]; then
  # Session 21: the one-kernel spectrum (monarch_hbm.hbm_spectrum) of a HERM frame's rows for the forward's FLIP
  # too (the default) vs every row (DNACONV_HBM_FLIP=0), forward two rounds interleaved, where it runs (partial
  # filters at 2.3M, the streaming and training shapes) and full L = 4K (the passes, a control); every README row
  # on the final code; GPU tests of the half spectra, cached spectra and streaming (DNACONV_TEST_WORKERS=4).
  timeout "${SWEEP_S:-150}" python3 - <<'PY' 2>&1 | tee "$OUT/t21b.txt"
from dnaconv.pipelines.ab import forward_sweeps
C = {"every": {"DNACONV_HBM_FLIP": "0"}, "flip": {}}
forward_sweeps(((1, 32, 2300000, 512, C), (1, 32, 2300000, 4096, C), (1, 32, 2300000, 16384, C),
                (1, 128, 73727, 8192, C), (16, 128, 8192, 8192, C), (16, 1024, 4096, 4096, C)), reps=2)
PY
  bench_table "${TABLE_S:-280}" $ALL_ROWS
  gpu_tests "tests/kernels/test_fftconv_hbm.py tests/kernels/test_fftconv_grid.py tests/test_streaming.py" \
    "half_spectrum_flipped or cached or through_triton or streamed_equals_full_cuda or (forward_on_the_grid and bf16 and L2300000)" \
    "${TEST_S:-90}"
  exit 0
fi
if [ "${1:-}" = t21 ]; then
  # Session 21: every README row on its final code (the HBM forward on half the filter spectrum, FLIP), then the
  # GPU tests of the half spectra and the grid's bf16 forwards where FLIP runs (DNACONV_TEST_WORKERS=4, each
  # worker on its share of the CPU's threads, tests/conftest.py).
  bench_table "${TABLE_S:-330}" $ALL_ROWS
  gpu_tests "tests/kernels/test_fftconv_hbm.py tests/kernels/test_fftconv_grid.py" \
    "half_spectrum or (forward_on_the_grid and bf16 and (L16384-K16384 or L65536-K65536 or L1048576 or L4194304)) or test_hbm_backward_direct" \
    "${TEST_S:-200}"
  exit 0
fi
if [ "${1:-}" = d22 ]; then
  # Session 22: the issue's grid as `dnaconv bench fftconv` runs it by default (full filters at L = 1K ... 4M,
  # partial K = 4K, 16K, 64K at L = 1M and 2.3M; bf16 and fp32; forward and fwd+bwd), one run.
  timeout "${GRID_S:-520}" dnaconv bench fftconv --json "$OUT/grid.json" 2>&1 | tee "$OUT/grid.txt"
  exit 0
fi
if [ "${1:-}" = g22 ]; then
  # Session 22: every test of test_fftconv_hbm.py on the GPU with the float64 reference through torch.fft past
  # 1024 taps (tests/kernels/helpers.exact_conv), on DNACONV_TEST_WORKERS workers within TEST_S seconds.
  gpu_tests tests/kernels/test_fftconv_hbm.py "" "${TEST_S:-300}"
  grep -c PASSED "$OUT/tests.txt"; grep -c FAILED "$OUT/tests.txt"
  exit 0
fi
if [ "${1:-}" = x23 ]; then
  # Session 23: the HBM forward's own filter spectrum in fp16 over a scale per row (the default) vs fp32
  # (DNACONV_HBM_KF=fp32), forward without gradients, three rounds interleaved, at every HBM row of the README
  # and the grid; then the GPU tests of the fp16 spectrum and of every spectrum path of the HBM forward.
  timeout "${SWEEP_S:-260}" python3 - <<'PY' 2>&1 | tee "$OUT/x23.txt"
from dnaconv.pipelines.ab import forward_sweeps
C = {"fp16": {}, "fp32": {"DNACONV_HBM_KF": "fp32"}}
forward_sweeps([
    (4, 256, 1 << 16, 1 << 16, C), (16, 1024, 4096, 4096, C), (8, 512, 1 << 14, 1 << 14, C),
    (1, 1024, 1 << 16, 1 << 16, C), (1, 4096, 1 << 14, 1 << 14, C), (1, 64, 1 << 20, 1 << 16, C),
    (1, 32, 2_300_000, 16384, C), (1, 32, 2_300_000, 4096, C), (1, 32, 2_300_000, 512, C),
    (2, 32, 1 << 20, 1 << 20, C), (1, 64, 1 << 20, 1 << 20, C), (1, 64, 1 << 20, 4096, C),
    (1, 128, 73727, 8192, C), (16, 128, 8192, 8192, C),
])
PY
  gpu_tests tests/kernels/test_fftconv_hbm.py "fp16_filter_spectrum or half_spectrum or spectrum_flipped or mirror or cached or forwards_spectrum" "${TEST_S:-200}"
  grep -c PASSED "$OUT/tests.txt"; grep -c FAILED "$OUT/tests.txt"
  exit 0
fi
if [ "${1:-}" = x23b ]; then
  # Session 23: x23's A/B again with five rounds where it was unclear (K = 512, K = 16K as control, two column
  # levels, the streaming shape), then launch by launch (ab.kernel_sequence), fp16 vs fp32 filter spectrum.
  timeout 250 python3 - <<'PY' 2>&1 | tee "$OUT/x23b.txt"
import os, torch
from dnaconv.pipelines.ab import forward_sweeps, gated_inputs, kernel_sequence
from dnaconv.kernels.fftconv import fftconv
C = {"fp16": {}, "fp32": {"DNACONV_HBM_KF": "fp32"}}
forward_sweeps([(1, 32, 2_300_000, 512, C), (1, 32, 2_300_000, 16384, C), (2, 32, 1 << 20, 1 << 20, C),
                (1, 64, 1 << 20, 1 << 20, C), (1, 128, 73727, 8192, C)], reps=5)
for B, D, L, K in ((1, 32, 2_300_000, 512), (2, 32, 1 << 20, 1 << 20)):
    u, k, bias, pre, post, _ = gated_inputs(B, D, L, K, grad=False)
    for name, env in C.items():
        os.environ.pop("DNACONV_HBM_KF", None); os.environ.update(env)
        with torch.no_grad():
            seq = kernel_sequence(lambda: fftconv(u, k, bias, pre, post))
        print(B, D, L, K, name, " | ".join(f"{n[:40]} {t:.3f}" for n, t in seq), flush=True)
    os.environ.pop("DNACONV_HBM_KF", None)
PY
  exit 0
fi
if [ "${1:-}" = t23 ]; then
  # Session 23: every README row on its final code (the fp16 filter spectrum), then the issue's grid in bf16
  # as `dnaconv bench fftconv` runs it by default.
  bench_table "${TABLE_S:-330}" $ALL_ROWS
  timeout "${GRID_S:-240}" dnaconv bench fftconv --dtype bfloat16 --json "$OUT/grid.json" 2>&1 | tee "$OUT/grid.txt"
  gpu_tests tests/kernels/test_fftconv_hbm.py "fp16_filter_spectrum or half_spectrum_flipped" "${TEST_S:-60}"
  exit 0
fi
if [ "${1:-}" = c23 ]; then
  # Session 23: the forward per call and with each side's filter spectrum computed once beforehand (bench
  # --cached; the kernels' cached spectrum now fp16 over a scale per row through one column level) at the
  # README's cached rows (c14's and s18's cases).
  timeout "${CACHED_S:-300}" dnaconv bench fftconv --dtype bfloat16 --no-backward --cached --json "$OUT/cached.json" \
    --case partial:1:32:2300000:128 --case partial:1:32:2300000:1024 --case partial:1:32:2300000:4096 \
    --case partial:1:32:2300000:8192 --case partial:1:32:2300000:16384 --case partial:1:128:73727:8192 \
    --case partial:1:64:1048576:65536 --case full:64:1024:1024:1024 --case full:4:256:65536:65536 \
    --case full:2:32:1048576:1048576 --case full:2:8:4194304:4194304 --case full:1:64:1048576:1048576 \
    2>&1 | tee "$OUT/cached.txt"
  exit 0
fi
if [ "${1:-}" = c23b ]; then
  # Session 23: the cached forward (fftconv_spectrum) and the per-call one, the fp16 filter spectrum vs fp32
  # (DNACONV_HBM_KF=fp32), three rounds interleaved, with the host's time per call (ab.host_ms), at the
  # streaming shape (host-bound) and at 2.3M x 32, K = 8192; torch.fft given its own cached spectrum.
  timeout 200 python3 - <<'PY' 2>&1 | tee "$OUT/c23b.txt"
import os, torch
from dnaconv.pipelines.ab import bench, host_ms, gated_inputs
from dnaconv.kernels.fftconv import fftconv, fftconv_spectrum, naive_fftconv, filter_spectrum
for B, D, L, K in ((1, 128, 73727, 8192), (1, 32, 2_300_000, 8192)):
    u, k, bias, pre, post, _ = gated_inputs(B, D, L, K, grad=False)
    kr = filter_spectrum(k, L)
    for rnd in range(3):
        line = []
        for name in ("fp16", "fp32"):
            os.environ.pop("DNACONV_HBM_KF", None)
            if name == "fp32":
                os.environ["DNACONV_HBM_KF"] = "fp32"
            with torch.no_grad():
                kf = fftconv_spectrum(k, u, 0, 1.0, bias)
                f_c = lambda: fftconv(u, k, bias, pre, post, k_f=kf)
                f_p = lambda: fftconv(u, k, bias, pre, post)
                line.append(f"{name}: parts {len(kf)} {kf[0].dtype} cached {bench(f_c):.3f} host {host_ms(f_c):.3f} | per call {bench(f_p):.3f} host {host_ms(f_p):.3f}")
        with torch.no_grad():
            t = bench(lambda: naive_fftconv(u, k, bias, pre, post, k_f=kr))
        print(f"{B}x{D}x{L} K={K} round {rnd}: torch cached {t:.3f} | " + " || ".join(line), flush=True)
    os.environ.pop("DNACONV_HBM_KF", None)
PY
  exit 0
fi
if [ "${1:-}" = sp23 ]; then
  # Session 23: why the frequency-sparse forward is slower than the dense one: launch by launch
  # (ab.kernel_sequence) and the host's time per call, f = 1, 1/2, 1/4, at L = 2.3M x 32, K = 16K and 1024.
  timeout 200 python3 - <<'PY' 2>&1 | tee "$OUT/sp23.txt"
import torch
from dnaconv.pipelines.ab import gated_inputs, kernel_sequence, bench, host_ms
from dnaconv.kernels.fftconv import fftconv
for B, D, L, K in ((1, 32, 2_300_000, 16384), (1, 32, 2_300_000, 1024)):
    u, k, bias, pre, post, _ = gated_inputs(B, D, L, K, grad=False)
    for f in (1.0, 0.5, 0.25):
        fn = lambda: fftconv(u, k, bias, pre, post, freq_fraction=f)
        with torch.no_grad():
            seq = kernel_sequence(fn)
            t, h = bench(fn), host_ms(fn)
        print(f"K={K} f={f}: {t:.3f} ms, host {h:.3f} | " + " | ".join(f"{n[:28]} {x:.3f}" for n, x in seq), flush=True)
PY
  exit 0
fi
if [ "${1:-}" = g23b ]; then
  # Session 23, after the fp16 filter spectrum: every test of test_fftconv_hbm.py with the grid's bf16 forwards
  # (six workers), then test_fftconv.py and tests/test_streaming.py (eight).
  PYTEST_ADDOPTS="-n 6" timeout "${TEST_S:-320}" python3 -m pytest -q -rf --tb=short -p no:cacheprovider \
    tests/kernels/test_fftconv_hbm.py tests/kernels/test_fftconv_grid.py -k "not test_fftconv_grid or (forward and bf16)" \
    > "$OUT/tests.txt" 2>&1
  tail -2 "$OUT/tests.txt"; grep -E "^FAILED|^ERROR" "$OUT/tests.txt" | head
  PYTEST_ADDOPTS="-n 8" timeout 150 python3 -m pytest -q -rf --tb=short -p no:cacheprovider tests/kernels/test_fftconv.py \
    tests/test_streaming.py > "$OUT/tests2.txt" 2>&1
  tail -2 "$OUT/tests2.txt"; grep -E "^FAILED|^ERROR" "$OUT/tests2.txt" | head
  exit 0
fi
if [ "${1:-}" = g23 ]; then
  # Session 23: every test of test_fftconv_hbm.py on the final wrapper code (input checks, contiguity, device),
  # on DNACONV_TEST_WORKERS workers within TEST_S seconds; then the frequency-sparse effect on the current
  # (stage-2) default model (the README's table was of stage 1).
  gpu_tests tests/kernels/test_fftconv_hbm.py "" "${TEST_S:-300}"
  grep -c PASSED "$OUT/tests.txt"; grep -c FAILED "$OUT/tests.txt"
  echo "== frequency-sparse effect on the default model (test region 20:56-60 Mb, bf16)"
  timeout "${EFFECT_S:-200}" python3 -m dnaconv.pipelines.freq_sparse_effect .devdata/GRCh37.chr20.fa.gz \
    --json "$OUT/sparse_effect.json" 2>&1 | tail -40
  exit 0
fi
if [ "${1:-}" = h22 ]; then
  # Session 22: the training windows at K = 1024 (32 x 256 x 8192), the fused backward (N = 2048, the default)
  # vs the HBM backward (DNACONV_HBM_BWD=1), fwd+bwd three rounds interleaved; then h12 (where the host's
  # time goes at the host-bound shapes).
  timeout "${SWEEP_S:-200}" python3 - <<'PY' 2>&1 | tee "$OUT/h22.txt"
from dnaconv.pipelines.ab import fwd_bwd_sweeps
C = {"fused": {}, "hbm": {"DNACONV_HBM_BWD": "1"}}
fwd_bwd_sweeps(((32, 256, 8192, 1024, C), (32, 256, 8192, 768, C), (32, 256, 8192, 2048, C)), reps=3)
PY
  bash "$0" h12
  exit 0
fi
if [ "${1:-}" = k22 ]; then
  # Session 22: the column passes' launch: columns per program (DNACONV_HBM_COLS; the default 32 for paired
  # passes of 64, else 64) and warps (DNACONV_HBM_COL_WARPS, 4: a knob of commit 6f80dbd only, removed after this
  # sweep, so run it there), forward two rounds interleaved, fwd+bwd at two.
  timeout "${SWEEP_S:-420}" python3 - <<'PY' 2>&1 | tee "$OUT/k22.txt"
from dnaconv.pipelines.ab import forward_sweeps, fwd_bwd_sweeps
C = {"base": {}, "c16": {"DNACONV_HBM_COLS": "16"}, "c32": {"DNACONV_HBM_COLS": "32"},
     "c64w8": {"DNACONV_HBM_COLS": "64", "DNACONV_HBM_COL_WARPS": "8"},
     "c16w2": {"DNACONV_HBM_COLS": "16", "DNACONV_HBM_COL_WARPS": "2"}}
forward_sweeps(((4, 256, 65536, 65536, C), (16, 1024, 4096, 4096, C), (8, 512, 16384, 16384, C),
                (1, 64, 1 << 20, 65536, C), (1, 32, 2300000, 16384, C), (2, 32, 1 << 20, 1 << 20, C)), reps=2)
C2 = {k: C[k] for k in ("base", "c16", "c32")}
fwd_bwd_sweeps(((4, 256, 65536, 65536, C2), (16, 1024, 4096, 4096, C2), (1, 32, 2300000, 16384, C2)), reps=2)
PY
  exit 0
fi
if [ "${1:-}" = p22 ]; then
  # Session 22: where the GPU time goes, launch by launch (torch.profiler, ab.launch_sequences), forward and
  # fwd+bwd, at the rows short of their targets on the twenty-first session's final code. (Its first run timed
  # fwd+bwd without resetting the inputs' gradients: the trailing elementwise kernels there were the
  # accumulation into them; launch_sequences resets them since.)
  timeout "${SWEEP_S:-300}" python3 - <<'PY' 2>&1 | tee "$OUT/p22.txt"
from dnaconv.pipelines.ab import launch_sequences
F, FB = ("fwd",), ("fwd", "fwd+bwd")
launch_sequences(((4, 256, 65536, 65536, FB), (16, 1024, 4096, 4096, F), (8, 512, 16384, 16384, F),
                  (1, 64, 1 << 20, 65536, F), (2, 32, 1 << 20, 1 << 20, FB), (1, 64, 1 << 20, 1 << 20, FB),
                  (32, 1024, 2048, 2048, FB), (32, 256, 8192, 1024, FB), (1, 32, 2300000, 16384, F)))
PY
  # the three tests of g21's files that had not finished within its call
  gpu_tests tests/kernels/test_fftconv_monarch.py \
    "(backward_half_frame and N2048 and recomputed) or backward_two_segments_at_2048 or route_from_dispatch" "${TEST_S:-200}"
  exit 0
fi
if [ "${1:-}" = s21 ]; then
  # Session 21: the HBM forward without gradients on a HERM frame's rows of the filter spectrum, its row pass
  # meeting the other rows' mirrors with mirrored DFT matrices (monarch_hbm._row_kernel's FLIP; the default) vs
  # every row of the spectrum (DNACONV_HBM_FLIP=0) vs the gathers (DNACONV_HBM_FLIP=0 DNACONV_HBM_MIRROR=1),
  # forward two rounds interleaved; the GPU tests of the half spectra; then one several-block fp32 test of the
  # direct backward alone under faulthandler (where it waits), DNACONV_TEST_WORKERS=1.
  timeout "${SWEEP_S:-240}" python3 - <<'PY' 2>&1 | tee "$OUT/s21.txt"
from dnaconv.pipelines.ab import forward_sweeps
C = {"every": {"DNACONV_HBM_FLIP": "0"}, "gather": {"DNACONV_HBM_FLIP": "0", "DNACONV_HBM_MIRROR": "1"},
     "flip": {}}
forward_sweeps(((1, 64, 1 << 20, 65536, C), (4, 256, 65536, 65536, C), (8, 512, 16384, 16384, C),
                (2, 128, 1 << 18, 1 << 18, C), (2, 32, 1 << 20, 1 << 20, C), (2, 16, 1 << 21, 1 << 21, C),
                (2, 8, 1 << 22, 1 << 22, C), (1, 32, 2300000, 16384, C)), reps=2)
PY
  gpu_tests "tests/kernels/test_fftconv_hbm.py tests/kernels/test_fftconv_grid.py" \
    "half_spectrum or transform_spectrum or spectrum_where or (forward_on_the_grid and bf16 and (L16384-K16384 or L65536-K65536 or L1048576 or L4194304))" \
    "${TEST_S:-200}"
  echo "== test_hbm_backward_direct[blocks] alone, faulthandler after 60 s"
  PYTEST_ADDOPTS="" timeout "${STALL_S:-120}" python3 -m pytest -v -p no:cacheprovider -o faulthandler_timeout=60 \
    --durations=5 "tests/kernels/test_fftconv_hbm.py::test_hbm_backward_direct[blocks]" > "$OUT/stall.txt" 2>&1
  echo "rc=$?"; grep -E "PASSED|FAILED|Timeout|File \"/|slowest|s call|s setup" "$OUT/stall.txt" | head -60
  exit 0
fi
if [ "${1:-}" = g20 ]; then
  # Session 20: the GPU tests of what changed that s20 and x18 did not reach (the relayout end to end, the direct
  # backward over several blocks with d(post) fused, v kept through two levels, the budget), DNACONV_TEST_WORKERS=4.
  gpu_tests tests/kernels/test_fftconv_hbm.py \
    "relayout or test_hbm_backward_direct or keeps_v or v_budget or reference_held" "${TEST_S:-400}"
  exit 0
fi
if [ "${1:-}" = f20 ]; then
  # Session 20: d(post) = dy z written by the direct HBM backward's first column pass of g (monarch_hbm._load_g;
  # the default) vs a torch op (DNACONV_HBM_DPOST=torch), fwd+bwd two rounds interleaved; then every README row
  # on session 20's code (as t18).
  timeout "${SWEEP_S:-150}" python3 - <<'PY' 2>&1 | tee "$OUT/f20.txt"
from dnaconv.pipelines.ab import fwd_bwd_sweeps
C = {"torch": {"DNACONV_HBM_DPOST": "torch"}, "fused": {}}
fwd_bwd_sweeps(((1, 64, 1 << 20, 65536, C), (1, 32, 2300000, 16384, C), (16, 1024, 4096, 4096, C),
                (2, 32, 1 << 20, 1 << 20, C), (1, 64, 1 << 20, 1 << 20, C)), reps=2)
PY
  bench_table "${TABLE_S:-330}" $ALL_ROWS
  exit 0
fi
if [ "${1:-}" = s20 ]; then
  # Session 20: the filter spectrum gathered into the HBM backward's order where its plan has the forward's N on
  # another decomposition (monarch.relayout_spectrum; K = 64K at 1M, K = 16K at 2.3M) vs computed by each
  # (DNACONV_SPECTRUM_SHARE=same), and v's spectrum kept within what torch.fft's autograd holds
  # (monarch._reference_held: the paired rows from 256K) vs not kept (DNACONV_HBM_KEEP_V=0), fwd+bwd two rounds
  # interleaved; peak and held memory; the GPU tests of what changed and the several-block direct backward's
  # (DNACONV_TEST_WORKERS=4).
  timeout "${SWEEP_S:-280}" python3 - <<'PY' 2>&1 | tee "$OUT/s20.txt"
from dnaconv.pipelines.ab import fwd_bwd_peaks, fwd_bwd_sweeps
S = {"same": {"DNACONV_SPECTRUM_SHARE": "same"}, "relayout": {}}
V = {"nokeep": {"DNACONV_HBM_KEEP_V": "0"}, "keep": {}}
fwd_bwd_sweeps(((1, 64, 1 << 20, 65536, S), (1, 32, 2300000, 16384, S), (2, 128, 1 << 18, 1 << 18, V),
                (2, 32, 1 << 20, 1 << 20, V), (2, 16, 1 << 21, 1 << 21, V), (2, 8, 1 << 22, 1 << 22, V),
                (16, 1024, 4096, 4096, V)), reps=2)
fwd_bwd_peaks(((1, 64, 1 << 20, 65536, S), (2, 32, 1 << 20, 1 << 20, V), (2, 8, 1 << 22, 1 << 22, V)))
PY
  gpu_tests "tests/kernels/test_fftconv_hbm.py tests/kernels/test_fftconv_grid.py" \
    "relayout or reference_held or v_budget or keeps_v or direct or (test_hbm_backward and (gated or plain)) or (gradients_on_the_grid and (L1048576-K65536 or L2300000-K16384 or L1048576-K1048576 or L262144-K262144))" \
    "${TEST_S:-250}"
  exit 0
fi
if [ "${1:-}" = s19 ]; then
  # Session 19: the HBM backward of one block a sequence in forward time (monarch_hbm_bwd._direct: g and v read
  # by their column passes, du and d(pre) written by the last inverse pass, d(bias) from dk's lag 0; the
  # default) vs the reversed route (DNACONV_HBM_DIRECT=0), and v's spectrum kept by the forward's row pass for
  # dk (the default) vs transformed by the backward (DNACONV_HBM_KEEP_V=0), fwd+bwd two rounds interleaved; the
  # peak memory of one fwd+bwd and the memory held between its forward and backward; the GPU tests of what
  # changed (DNACONV_TEST_WORKERS=4). SWEEP_S: the sweeps' time limit (the first process compiles).
  timeout "${SWEEP_S:-330}" python3 - <<'PY' 2>&1 | tee "$OUT/s19.txt"
from dnaconv.pipelines.ab import fwd_bwd_peaks, fwd_bwd_sweeps
C = {"rev": {"DNACONV_HBM_DIRECT": "0"}, "direct": {"DNACONV_HBM_KEEP_V": "0"}, "keep": {}}
fwd_bwd_sweeps(((16, 1024, 4096, 4096, C), (16, 128, 8192, 8192, C), (8, 512, 16384, 16384, C),
                (4, 256, 65536, 65536, C), (1, 1024, 65536, 65536, C), (1, 2048, 32768, 32768, C),
                (2, 32, 1 << 20, 1 << 20, C), (1, 64, 1 << 20, 1 << 20, C), (2, 8, 1 << 22, 1 << 22, C),
                (1, 16, 1 << 22, 1 << 22, C)), reps=2)
fwd_bwd_peaks(((16, 1024, 4096, 4096, C), (2, 32, 1 << 20, 1 << 20, C), (1, 64, 1 << 20, 1 << 20, C),
               (16, 128, 8192, 8192, C)))
PY
  gpu_tests tests/kernels/test_fftconv_hbm.py \
    "direct or keeps_v or v_budget or bf16_within or takes_the_forwards or hermitian_half or dk_through" \
    "${TEST_S:-200}"
  exit 0
fi
if [ "${1:-}" = g19 ]; then
  # Session 19: the GPU tests of the direct HBM backward (one block and several, ANTI), v's spectrum kept by
  # the forward, and the gradients on the issue's grid where the direct route runs (DNACONV_TEST_WORKERS=4).
  gpu_tests "tests/kernels/test_fftconv_hbm.py tests/kernels/test_fftconv_grid.py" \
    "direct or keeps_v or dk_through or (test_hbm_backward and (gated or plain)) or (gradients_on_the_grid and (L4096-K4096 or L65536-K65536 or L1048576-K1048576 or L1048576-K65536 or L2300000-K16384 or L2300000-K4096)) or test_hbm_backward_one_sequence[L65536]" \
    "${TEST_S:-380}"
  exit 0
fi
if [ "${1:-}" = f19 ]; then
  # Session 19: the HBM backward in forward time over several blocks (blocks that output their first C
  # positions: ANTI; the default) vs only where a sequence is one block (DNACONV_HBM_DIRECT=one) vs the
  # reversed route (=0), fwd+bwd two rounds interleaved, partial filters; then every README row (as t18) and
  # the direct backward's GPU tests (DNACONV_TEST_WORKERS=4).
  timeout "${SWEEP_S:-200}" python3 - <<'PY' 2>&1 | tee "$OUT/f19.txt"
from dnaconv.pipelines.ab import fwd_bwd_sweeps
C = {"rev": {"DNACONV_HBM_DIRECT": "0"}, "one": {"DNACONV_HBM_DIRECT": "one"}, "direct": {}}
fwd_bwd_sweeps(((1, 64, 1 << 20, 65536, C), (1, 32, 2300000, 16384, C), (1, 32, 2300000, 4096, C),
                (1, 32, 2300000, 1024, C)), reps=2)
PY
  bench_table "${TABLE_S:-330}" $ALL_ROWS
  gpu_tests tests/kernels/test_fftconv_hbm.py "direct or v_read_reversed or saved_z or dk_programs" "${TEST_S:-60}"
  exit 0
fi
if [ "${1:-}" = p19 ]; then
  # Session 19: the training shape (16 x 128 x 8192, host-bound) fwd+bwd with v's spectrum kept by the forward
  # (default) vs not (DNACONV_HBM_KEEP_V=0) vs the reversed backward (DNACONV_HBM_DIRECT=0), five rounds
  # interleaved, its launches' GPU time (torch.profiler) and host time per call; v's spectrum kept in fp16
  # through two column levels (one sequence from L = 256K) vs not, two rounds; then every README row (as t18).
  timeout "${SWEEP_S:-200}" python3 - <<'PY' 2>&1 | tee "$OUT/p19.txt"
from dnaconv.kernels.fftconv import fftconv
from dnaconv.pipelines.ab import env_set, fwd_bwd_sweeps, gated_inputs, host_ms, kernel_sequence
C = {"direct": {"DNACONV_HBM_KEEP_V": "0"}, "keep": {}}
fwd_bwd_sweeps(((16, 128, 8192, 8192, {**C, "rev": {"DNACONV_HBM_DIRECT": "0"}}),), reps=5)
u, k, bias, pre, post, dy = gated_inputs(16, 128, 8192, 8192)
for name, env in C.items():
    with env_set(env):
        seq = kernel_sequence(lambda: fftconv(u, k, bias, pre, post).backward(dy))
        host = host_ms(lambda: fftconv(u, k, bias, pre, post).backward(dy))
    print(f"16x128x8192 {name}: host {host:.3f} ms per call, GPU total {sum(t for _, t in seq):.3f} ms |",
          " ".join(f"{n.strip()}={ms:.3f}" for n, ms in seq), flush=True)
del u, k, bias, pre, post, dy
fwd_bwd_sweeps(((1, 256, 1 << 18, 1 << 18, C), (1, 64, 1 << 20, 1 << 20, C), (1, 16, 1 << 22, 1 << 22, C)), reps=2)
PY
  bench_table "${TABLE_S:-330}" $ALL_ROWS
  exit 0
fi
if [ "${1:-}" = t18 ]; then
  # Session 18's README table on its final code: every row (the table's cases, then the one-block rows of
  # full-length filters).
  bench_table 330 $ALL_ROWS
  exit 0
fi
if [ "${1:-}" = x18 ]; then
  # Session 18: the working tree's kernels (new: the filter taps unscaled into the spectrum's passes, dk's 1/N in
  # its row pass, no sum over one sequence's batch) vs the kernels/fftconv/*.py in $2 (base), forward and
  # fwd+bwd, in alternating processes (new, base, new, base: the best of each side's two); then the GPU tests
  # of what changed (DNACONV_TEST_WORKERS=4). AB_CASES (a Python list of (B, D, L, K)) replaces the cases, AB_FWD=0
  # skips the forward, AB_TESTS (a -k expression) the tests, FIRST_S the first process's time limit (it compiles),
  # AB_HOST=1 adds the host's ms per fwd+bwd call (ab.host_ms).
  mkdir -p /tmp/new && cp kernels/fftconv/*.py /tmp/new/
  first=1
  for side in new base new base; do
    case $side in new) cp /tmp/new/*.py kernels/fftconv/ ;; base) cp "$2"/*.py kernels/fftconv/ ;; esac
    limit=110; [ $first = 1 ] && limit=${FIRST_S:-110}; first=0
    SIDE=$side timeout $limit python3 - <<'PY' 2>&1 | tee -a "$OUT/x18.txt"
import ast, os, torch
from dnaconv.kernels.fftconv import fftconv
from dnaconv.pipelines.ab import bench, gated_inputs
line = []
cases = ((1, 64, 1 << 20, 1 << 20), (1, 2048, 32768, 32768), (1, 1024, 65536, 65536), (1, 16, 1 << 22, 1 << 22),
         (2, 32, 1 << 20, 1 << 20), (4, 256, 65536, 65536), (2, 8, 1 << 22, 1 << 22), (8, 512, 16384, 16384),
         (16, 1024, 4096, 4096), (1, 64, 1 << 20, 65536))
for B, D, L, K in ast.literal_eval(os.environ["AB_CASES"]) if "AB_CASES" in os.environ else cases:
    u, k, bias, pre, post, dy = gated_inputs(B, D, L, K)
    leaves = [u, k, bias, pre, post]
    f = 0.0
    if os.environ.get("AB_FWD") != "0":
        with torch.no_grad():
            f = bench(lambda: fftconv(u, k, bias, pre, post))
    fb = bench(lambda: fftconv(u, k, bias, pre, post).backward(dy), leaves)
    line.append(f"{B}x{D}x{L}:K={K} {f:.3f}/{fb:.3f}")
    if os.environ.get("AB_HOST") == "1":
        from dnaconv.pipelines.ab import host_ms
        line[-1] += f" (host {host_ms(lambda: fftconv(u, k, bias, pre, post).backward(dy)):.3f})"
    del u, k, bias, pre, post, dy, leaves
    torch.cuda.empty_cache()
print(os.environ["SIDE"], "fwd/fwd+bwd ms:", " ".join(line), flush=True)
PY
  done
  cp /tmp/new/*.py kernels/fftconv/
  gpu_tests "tests/kernels/test_fftconv_grid.py tests/kernels/test_fftconv_hbm.py" \
    "${AB_TESTS:-transform_spectrum or dk_through or takes_the_forwards or hbm_backward_hermitian or folds_the_bias or (gradients_on_the_grid and (L65536-K65536 or L1048576-K1048576 or L4096-K4096)) or hbm_backward_one_sequence}" \
    "${TEST_S:-100}"
  exit 0
fi
if [ "${1:-}" = p18 ]; then
  # Session 18: where the GPU time goes, launch by launch (torch.profiler, ab.launch_sequences), fwd+bwd and the
  # forward, at the rows short of their targets on s18's code; paired 32K's backward on the forward's rows of
  # 1024 (the default since s18) vs 2048, fwd+bwd two rounds interleaved.
  timeout 240 python3 - <<'PY' 2>&1 | tee "$OUT/p18.txt"
from dnaconv.pipelines.ab import fwd_bwd_sweeps, launch_sequences
fwd_bwd_sweeps(((2, 1024, 32768, 32768, {"new": {}, "b2048": {"DNACONV_HBM_BWD_ROW": "2048"}}),), reps=2)
FB = ("fwd", "fwd+bwd")
launch_sequences(((16, 1024, 4096, 4096, FB), (4, 256, 65536, 65536, FB), (2, 32, 1 << 20, 1 << 20, FB),
                  (1, 64, 1 << 20, 1 << 20, FB), (1, 64, 1 << 20, 65536, FB), (32, 1024, 2048, 2048, FB),
                  (1, 2048, 32768, 32768, FB)))
PY
  exit 0
fi
if [ "${1:-}" = s18 ]; then
  # Session 18: the forward's filter spectrum kept for the backward up to the spectra torch.fft's autograd keeps
  # (monarch._shared_spectrum, the default) vs up to u's bytes (DNACONV_SPECTRUM_SHARE=small: the full-length
  # rows from L = 64K recompute it), fwd+bwd two rounds interleaved, and the one sequence at 32K with the
  # backward on the forward's rows of 1024 (one plan: shared); the peak memory of one fwd+bwd; the README rows
  # it changes; the forward with cached spectra (bench --cached) at the one-block rows; the GPU tests
  # (DNACONV_TEST_WORKERS=4).
  timeout 260 python3 - <<'PY' 2>&1 | tee "$OUT/s18.txt"
from dnaconv.pipelines.ab import fwd_bwd_peaks, fwd_bwd_sweeps
C = {"small": {"DNACONV_SPECTRUM_SHARE": "small"}, "new": {}}
B1024 = {**C, "b1024": {"DNACONV_HBM_BWD_ROW": "1024"}}
fwd_bwd_sweeps(((4, 256, 65536, 65536, C), (1, 1024, 65536, 65536, C), (1, 2048, 32768, 32768, B1024),
                (2, 128, 1 << 18, 1 << 18, C), (2, 32, 1 << 20, 1 << 20, C), (2, 8, 1 << 22, 1 << 22, C),
                (1, 256, 1 << 18, 1 << 18, C), (1, 64, 1 << 20, 1 << 20, C), (1, 16, 1 << 22, 1 << 22, C)),
               reps=2)
fwd_bwd_peaks(((2, 32, 1 << 20, 1 << 20, C), (1, 64, 1 << 20, 1 << 20, C), (4, 256, 65536, 65536, C)))
PY
  bench_table 200 $ONE_BLOCK_CASES
  timeout 90 dnaconv bench fftconv --dtype bfloat16 --no-backward --cached --json "$OUT/cached.json" \
    --case full:4:256:65536:65536 --case full:2:32:1048576:1048576 --case full:2:8:4194304:4194304 \
    --case full:1:64:1048576:1048576 --case partial:1:64:1048576:65536 2>&1 | tee "$OUT/cached.txt"
  gpu_tests "tests/kernels/test_fftconv_grid.py tests/kernels/test_fftconv_hbm.py" \
    "takes_the_forwards or hermitian_half or (gradients_on_the_grid and (L65536-K65536 or L262144 or L1048576-K1048576)) or hbm_backward_one_sequence" \
    "${TEST_S:-100}"
  exit 0
fi
if [ "${1:-}" = f17 ]; then
  # Session 17's final code: the README rows whose plans e17 moved (full L = 4K, 16K, the training shape: a
  # column pass of 32 for one-block plans up to N = 32,768, forward and backward alike); the GPU tests there
  # (DNACONV_TEST_WORKERS=4).
  bench_table 120 --case full:16:1024:4096:4096 --case full:16:128:8192:8192 --case full:8:512:16384:16384
  gpu_tests "tests/kernels/test_fftconv_grid.py tests/kernels/test_fftconv_hbm.py" \
    "((forward_on_the_grid or gradients_on_the_grid) and (L4096- or L16384-)) or live_rows or dk_through or hermitian_half or test_plans" \
    "${TEST_S:-130}"
  exit 0
fi
if [ "${1:-}" = e17 ]; then
  # Session 17: with live rows, shorter rows for one-block HBM plans of one column level of 16 (full L = 4K, the
  # training shape; 16K's level of 32), so that the level is longer and takes live rows: rows of 256 and 512
  # (forward and backward alike; at 16K the backward's rows of 1024, the forward's plan, one plan for both) vs
  # the plan's, forward three rounds, fwd+bwd two, interleaved; then the training shape's README row (its dk
  # from torch.fft since d17).
  timeout 200 python3 - <<'PY' 2>&1 | tee "$OUT/e17.txt"
from dnaconv.pipelines.ab import forward_sweeps, fwd_bwd_sweeps
R = {n: {"DNACONV_HBM_ROW": str(n), "DNACONV_HBM_BWD_ROW": str(n)} for n in (256, 512)}
S = ((16, 1024, 4096, 4096, {"plan": {}, "r256": R[256]}),
     (16, 128, 8192, 8192, {"plan": {}, "r256": R[256], "r512": R[512]}),
     (8, 512, 16384, 16384, {"plan": {}, "r512": R[512], "b1024": {"DNACONV_HBM_BWD_ROW": "1024"}}))
forward_sweeps(S)
fwd_bwd_sweeps(S, reps=2)
PY
  bench_table 60 --case full:16:128:8192:8192
  exit 0
fi
if [ "${1:-}" = d17 ]; then
  # Session 17: the HBM backward's dk from its spectrum through the convolution's own inverse passes
  # (monarch_hbm_bwd._dk_taps, the default) vs the gather into frequency order and torch.fft
  # (DNACONV_HBM_DK_TAIL=fft), fwd+bwd two rounds interleaved; then the README table on the session's final
  # code (every row: each HBM backward's dk changed) and the GPU tests of what changed (DNACONV_TEST_WORKERS=4).
  timeout 170 python3 - <<'PY' 2>&1 | tee "$OUT/d17.txt"
from dnaconv.pipelines.ab import fwd_bwd_sweeps
C = {"fft": {"DNACONV_HBM_DK_TAIL": "fft"}, "passes": {}}
fwd_bwd_sweeps(((2, 32, 1 << 20, 1 << 20, C), (1, 64, 1 << 20, 1 << 20, C), (1, 256, 1 << 18, 1 << 18, C),
                (4, 256, 65536, 65536, C), (8, 512, 16384, 16384, C), (1, 64, 1 << 20, 65536, C),
                (1, 32, 2_300_000, 16384, C), (1, 32, 2_300_000, 1024, C), (16, 128, 8192, 8192, C)), reps=2)
PY
  bench_table 300 $ALL_ROWS
  gpu_tests "tests/kernels/test_fftconv_grid.py tests/kernels/test_fftconv_hbm.py" \
    "dk_through or (gradients_on_the_grid and (L65536-K65536 or L1048576-K1048576 or L262144 or L1048576-K65536 or L2300000-K16384 or L16384-)) or hbm_backward_one_sequence" \
    "${TEST_S:-100}"
  exit 0
fi
if [ "${1:-}" = w17 ]; then
  # Session 17: two column levels on the shortest rows that they cover (the forward's and the backward's rows
  # alike: 1024, then 2048) vs before (the forward's rows of 4096, the backward's 2048: DNACONV_HBM_ROW=4096,
  # DNACONV_HBM_BWD_ROW=2048), fwd+bwd two rounds interleaved; the forward at N = 4M (rows of 1024, 64 x 64
  # columns, not timed in r17) vs 2048 vs 4096.
  timeout 300 python3 - <<'PY' 2>&1 | tee "$OUT/w17.txt"
from dnaconv.pipelines.ab import forward_sweeps, fwd_bwd_sweeps
C = {"before": {"DNACONV_HBM_ROW": "4096", "DNACONV_HBM_BWD_ROW": "2048"}, "new": {}}
forward_sweeps(((2, 16, 1 << 21, 1 << 21, {**C, "r2048": {"DNACONV_HBM_ROW": "2048"}}),
                (1, 32, 1 << 21, 1 << 21, {**C, "r2048": {"DNACONV_HBM_ROW": "2048"}})))
fwd_bwd_sweeps(((2, 128, 1 << 18, 1 << 18, C), (1, 256, 1 << 18, 1 << 18, C), (2, 32, 1 << 20, 1 << 20, C),
                (1, 64, 1 << 20, 1 << 20, C), (2, 16, 1 << 21, 1 << 21, C), (2, 8, 1 << 22, 1 << 22, C),
                (1, 16, 1 << 22, 1 << 22, C)), reps=2)
PY
  exit 0
fi
if [ "${1:-}" = r17 ]; then
  # Session 17: with live rows, the HBM forward's row (DNACONV_HBM_ROW: 1024, 2048, 4096) against the plan's at
  # one-block shapes, where a longer first column level would take more live-row pruning (rows of 1024 at 256K
  # give 32 x 16 columns for 16 x 16; rows of 4096 at 64K a level of 32, whose paired last pass prunes), three
  # rounds interleaved; then where fwd+bwd's GPU time goes, kernel by kernel (torch.profiler).
  timeout 330 python3 - <<'PY' 2>&1 | tee "$OUT/r17.txt"
import torch
from dnaconv.kernels.fftconv import fftconv
from dnaconv.pipelines.ab import forward_sweeps, gated_inputs, kernel_times
C = {"plan": {}, "r1024": {"DNACONV_HBM_ROW": "1024"}, "r2048": {"DNACONV_HBM_ROW": "2048"},
     "r4096": {"DNACONV_HBM_ROW": "4096"}}
forward_sweeps(((2, 128, 1 << 18, 1 << 18, C), (1, 256, 1 << 18, 1 << 18, C), (2, 32, 1 << 20, 1 << 20, C),
                (1, 64, 1 << 20, 1 << 20, C), (4, 256, 65536, 65536, C), (1, 1024, 65536, 65536, C),
                (8, 512, 16384, 16384, C), (2, 8, 1 << 22, 1 << 22, C)))
for B, D, L, K in ((2, 32, 1 << 20, 1 << 20), (4, 256, 65536, 65536), (1, 64, 1 << 20, 65536),
                   (1, 64, 1 << 20, 1 << 20)):
    u, k, bias, pre, post, dy = gated_inputs(B, D, L, K)
    kt = kernel_times(lambda: fftconv(u, k, bias, pre, post).backward(dy))
    print(f"{B}x{D}x{L} K={K} fwd+bwd: total {sum(kt.values()):.3f} ms |",
          " ".join(f"{name.strip()}={ms:.3f}" for name, ms in sorted(kt.items(), key=lambda x: -x[1])), flush=True)
    del u, k, bias, pre, post, dy
    torch.cuda.empty_cache()
PY
  exit 0
fi
if [ "${1:-}" = t17 ]; then
  # Session 17: l17's paired rule (the paired last pass of a column level of 64 on every row, the default) vs
  # live rows there too (DNACONV_HBM_LIVE=all) vs every row, forward three rounds, fwd+bwd two; then the README
  # rows on the session's final code (those of t16: the HBM plans of one block per sequence, K = 64K, and K =
  # 16K at 2.3M as a control).
  timeout 200 python3 - <<'PY' 2>&1 | tee "$OUT/l17b.txt"
from dnaconv.pipelines.ab import forward_sweeps, fwd_bwd_sweeps
C = {"every": {"DNACONV_HBM_LIVE": "0"}, "rule": {}, "all": {"DNACONV_HBM_LIVE": "all"}}
forward_sweeps(((4, 256, 65536, 65536, C), (2, 8, 1 << 22, 1 << 22, C), (2, 16, 1 << 21, 1 << 21, C),
                (1, 32, 1 << 21, 1 << 21, C)))
fwd_bwd_sweeps(((4, 256, 65536, 65536, C), (2, 8, 1 << 22, 1 << 22, C)), reps=2)
PY
  bench_table 330 $ONE_BLOCK_CASES
  exit 0
fi
if [ "${1:-}" = g17 ]; then
  # Session 17: GPU tests of the live rows and the issue's grid where they run (one block per sequence from
  # L = 16K, bf16 forward and gradients, one sequence, the HBM backward at N = 2^24); DNACONV_TEST_WORKERS=4.
  gpu_tests "tests/kernels/test_fftconv_grid.py tests/kernels/test_fftconv_hbm.py" \
    "live_rows or (forward_on_the_grid and bf16 and (L16384- or L65536-K65536 or L262144 or L1048576-K1048576 or L2097152 or L4194304)) or (gradients_on_the_grid and (L65536-K65536 or L262144 or L1048576-K1048576 or L4194304)) or (forward_one_sequence and bf16) or hbm_backward_one_sequence" \
    "${TEST_S:-400}"
  exit 0
fi
if [ "${1:-}" = l17 ]; then
  # Session 17: the first column level's passes on a one-block sequence's live rows only (monarch_hbm._live_rows:
  # the forward's first pass and the spectrum's over the rows that hold the input or the taps, the last inverse
  # pass over the rows that hold the outputs) vs every row (DNACONV_HBM_LIVE=0); forward three rounds, fwd+bwd
  # two, interleaved, torch.fft beside; its GPU tests.
  timeout 330 python3 - <<'PY' 2>&1 | tee "$OUT/l17.txt"
from dnaconv.pipelines.ab import forward_sweeps, fwd_bwd_sweeps
C = {"every": {"DNACONV_HBM_LIVE": "0"}, "live": {}}
forward_sweeps(((2, 128, 1 << 18, 1 << 18, C), (2, 32, 1 << 20, 1 << 20, C), (2, 8, 1 << 22, 1 << 22, C),
                (1, 64, 1 << 20, 1 << 20, C), (1, 16, 1 << 22, 1 << 22, C), (1, 1024, 65536, 65536, C),
                (1, 64, 1 << 20, 65536, C), (4, 256, 65536, 65536, C), (8, 512, 16384, 16384, C),
                (16, 1024, 4096, 4096, C), (16, 128, 8192, 8192, C)))
fwd_bwd_sweeps(((2, 32, 1 << 20, 1 << 20, C), (1, 64, 1 << 20, 1 << 20, C), (4, 256, 65536, 65536, C),
                (8, 512, 16384, 16384, C)), reps=2)
PY
  gpu_tests tests/kernels/test_fftconv_hbm.py "live_rows" "${TEST_S:-120}"
  exit 0
fi
if [ "${1:-}" = n24 ]; then
  # Session 17: one sequence's one block at N = 2^24 (L = 8M x 8 channels, past plan.HBM_BWD_HERM_N's 2^23):
  # the HBM backward on half its spectrum forced vs torch.fft's autograd (dispatched), fwd+bwd ms, two rounds.
  timeout 200 python3 - <<'PY' 2>&1 | tee "$OUT/n24.txt"
from dnaconv.pipelines.ab import fwd_bwd_sweeps
fwd_bwd_sweeps(((1, 8, 1 << 23, 1 << 23, {"dispatched": {}, "hbm": {"DNACONV_HBM_BWD": "1"}}),), reps=2)
PY
  exit 0
fi
if [ "${1:-}" = fill16 ]; then
  # Written in session 16, run in session 17 (slower everywhere): the filter spectrum through the passes on a HERM frame's rows only
  # (about half), the row pass storing each computed row again as its mirror's, conjugated and backwards, so
  # that paired frames read every row as before (DNACONV_HBM_SPECTRUM_FILL=1), against every row
  # transformed (the default); forward three rounds, fwd+bwd two, interleaved, torch.fft beside; its tests.
  timeout 300 python3 - <<'PY' 2>&1 | tee "$OUT/fill16.txt"
from dnaconv.pipelines.ab import forward_sweeps, fwd_bwd_sweeps
C = {"rows": {}, "fill": {"DNACONV_HBM_SPECTRUM_FILL": "1"}}
forward_sweeps(((2, 128, 1 << 18, 1 << 18, C), (2, 32, 1 << 20, 1 << 20, C), (2, 8, 1 << 22, 1 << 22, C),
                (1, 64, 1 << 20, 65536, C), (4, 256, 65536, 65536, C), (8, 512, 16384, 16384, C)))
fwd_bwd_sweeps(((2, 32, 1 << 20, 1 << 20, C), (1, 64, 1 << 20, 65536, C), (4, 256, 65536, 65536, C)), reps=2)
PY
  gpu_tests tests/kernels/test_fftconv_hbm.py "spectrum_fill" "${TEST_S:-120}"
  exit 0
fi
if [ "${1:-}" = g16 ]; then
  # Session 16: the GPU tests t16's time cut (the mirrored half spectrum, opt-in) and the grid's gradients where
  # the paired HBM backward runs with the passes' spectrum (L = 2M, 4M); run it with DNACONV_TEST_WORKERS=4.
  gpu_tests "tests/kernels/test_fftconv_grid.py tests/kernels/test_fftconv_hbm.py" \
    "(gradients_on_the_grid and (L2097152 or L4194304)) or half_spectrum_mirrored" "${TEST_S:-160}"
  exit 0
fi
if [ "${1:-}" = b16 ]; then
  # Session 16: one sequence's one block through the HBM backward on half its spectrum (DNACONV_HBM_BWD=1)
  # where torch.fft's autograd runs (N = 2^18 ... 2^23; it lost at 2^19 and 2^21 in b13, before the passes'
  # spectrum), fwd+bwd ms, two rounds interleaved, torch.fft first.
  timeout 230 python3 - <<'PY' 2>&1 | tee "$OUT/b16.txt"
from dnaconv.pipelines.ab import fwd_bwd_sweeps
C = {"dispatched": {}, "hbm": {"DNACONV_HBM_BWD": "1"}}
fwd_bwd_sweeps(((1, 256, 1 << 18, 1 << 18, C), (1, 64, 1 << 20, 1 << 20, C), (1, 16, 1 << 22, 1 << 22, C),
                (1, 32, 1 << 21, 1 << 21, C), (1, 512, 1 << 17, 1 << 17, C)), reps=2)
PY
  exit 0
fi
if [ "${1:-}" = t16 ]; then
  # Session 16's final code: the README rows whose filter spectrum now comes from the convolution's own passes
  # (full-length filters from L = 16K, K = 64K at 1M, one sequence), with K = 16K at 2.3M as a control; then the
  # issue's grid there (test_fftconv_grid.py, against float64) and the new tests (run it with
  # DNACONV_TEST_WORKERS=4).
  bench_table 300 $ONE_BLOCK_CASES
  gpu_tests "tests/kernels/test_fftconv_grid.py tests/kernels/test_fftconv_hbm.py" \
    "(forward_on_the_grid and bf16 and (L16384- or L65536-K65536 or L262144 or L1048576-K1048576 or L2097152 or L4194304 or L1048576-K65536 or L2300000-K65536)) or (gradients_on_the_grid and (L65536-K65536 or L262144 or L1048576-K1048576 or L1048576-K65536)) or (forward_one_sequence and bf16) or hbm_backward_one_sequence or where_it_pays or half_spectrum_mirrored" \
    "${TEST_S:-230}"
  exit 0
fi
if [ "${1:-}" = m16 ]; then
  # Session 16: the filter spectrum through the forward's passes on a HERM frame's rows only, the row and dk
  # passes reading the rest from their mirrors (the default), against every row (DNACONV_HBM_MIRROR=0), with
  # the rfft's spectrum beside (the default before this session); forward three rounds, fwd+bwd two,
  # interleaved; then the GPU tests of both.
  timeout 300 python3 - <<'PY' 2>&1 | tee "$OUT/m16.txt"
from dnaconv.pipelines.ab import forward_sweeps, fwd_bwd_sweeps
C = {"mirror": {}, "rows": {"DNACONV_HBM_MIRROR": "0"}, "rfft": {"DNACONV_HBM_SPECTRUM": "rfft"}}
forward_sweeps(((2, 128, 1 << 18, 1 << 18, C), (2, 32, 1 << 20, 1 << 20, C), (2, 8, 1 << 22, 1 << 22, C),
                (1, 64, 1 << 20, 1 << 20, C), (1, 64, 1 << 20, 65536, C), (4, 256, 65536, 65536, C),
                (1, 1024, 65536, 65536, C), (8, 512, 16384, 16384, C)))
fwd_bwd_sweeps(((2, 32, 1 << 20, 1 << 20, C), (1, 64, 1 << 20, 65536, C), (4, 256, 65536, 65536, C),
                (8, 512, 16384, 16384, C)), reps=2)
PY
  gpu_tests tests/kernels/test_fftconv_hbm.py "transform_spectrum or half_spectrum_mirrored or where_it_pays" \
    "${TEST_S:-200}"
  exit 0
fi
if [ "${1:-}" = p16 ]; then
  # Session 16: an HBM plan's filter spectrum through the convolution's own forward passes
  # (DNACONV_HBM_SPECTRUM=passes16 / passes: fp16 operands / 3xtf32) against the rfft and its gather (the
  # default past 65,536 points, where k16 found the gather 1.6 ms of 4.3 at 2 x 32 x 1M) and against the
  # one-kernel spectrum (direct16, the default up to 65,536); forward, three rounds interleaved, torch.fft and
  # errors beside; fwd+bwd where the spectrum is kept for the backward; then the new GPU tests.
  timeout 390 python3 - <<'PY' 2>&1 | tee "$OUT/p16.txt"
from dnaconv.pipelines.ab import forward_sweeps, fwd_bwd_sweeps
C = {"rfft": {"DNACONV_HBM_SPECTRUM": "rfft"}, "passes16": {"DNACONV_HBM_SPECTRUM": "passes16"},
     "passes": {"DNACONV_HBM_SPECTRUM": "passes"}}
S = {"direct16": {}, "passes16": {"DNACONV_HBM_SPECTRUM": "passes16"}}
forward_sweeps(((2, 128, 1 << 18, 1 << 18, C), (2, 32, 1 << 20, 1 << 20, C), (2, 8, 1 << 22, 1 << 22, C),
                (1, 256, 1 << 18, 1 << 18, C), (1, 64, 1 << 20, 1 << 20, C), (1, 16, 1 << 22, 1 << 22, C),
                (1, 64, 1 << 20, 65536, C), (4, 256, 65536, 65536, C), (1, 1024, 65536, 65536, C),
                (8, 512, 16384, 16384, S), (16, 1024, 4096, 4096, S), (1, 32, 2_300_000, 16384, S),
                (1, 128, 73727, 8192, S), (16, 128, 8192, 8192, S)))
P = {"rfft": {"DNACONV_HBM_SPECTRUM": "rfft"}, "passes16": {"DNACONV_HBM_SPECTRUM": "passes16"}}
fwd_bwd_sweeps(((2, 32, 1 << 20, 1 << 20, P), (1, 64, 1 << 20, 65536, P), (4, 256, 65536, 65536, P)), reps=2)
PY
  gpu_tests tests/kernels/test_fftconv_hbm.py "transform_spectrum" "${TEST_S:-150}"
  exit 0
fi
if [ "${1:-}" = k16 ]; then
  # Session 16: where the HBM forward's time goes, kernel by kernel (torch.profiler, GPU ms per call and ps per
  # output), at a row's shape and with fewer channels, so that the intermediate shrinks from HBM-sized to
  # L2-sized (50 MB): does its traffic through HBM cost, or the passes' own work? Then the plan's pick (HBM
  # blocks from K = 512) against the on-chip kernel forced (DNACONV_MONARCH_FFT=0) at K = 384-640.
  timeout 300 python3 - <<'PY' 2>&1 | tee "$OUT/k16.txt"
import torch
from dnaconv.kernels.fftconv import fftconv
from dnaconv.pipelines.ab import forward_sweeps, gated_inputs, kernel_times
for B, L, K, Ds in ((16, 4096, 4096, (1024, 256, 64, 16)), (8, 16384, 16384, (512, 64, 8)),
                    (1, 2_300_000, 16384, (32, 4, 1)), (1, 1 << 20, 65536, (64, 8)), (2, 1 << 20, 1 << 20, (32, 4, 1))):
    for D in Ds:
        u, k, bias, pre, post, _ = gated_inputs(B, D, L, K, grad=False)
        with torch.no_grad():
            kt = kernel_times(lambda: fftconv(u, k, bias, pre, post))
        n = B * D * L
        tot = sum(kt.values())
        print(f"{B}x{D}x{L} K={K}: total {tot:.3f} ms, {tot * 1e9 / n:.2f} ps/output |",
              " ".join(f"{name.strip()}={ms:.3f}({ms * 1e9 / n:.2f})" for name, ms in kt.items()), flush=True)
        del u, k, bias, pre, post
        torch.cuda.empty_cache()
C = {"plan": {}, "chip": {"DNACONV_MONARCH_FFT": "0"}}
forward_sweeps(tuple((1, 32, 2_300_000, K, C) for K in (384, 448, 512, 640)))
PY
  exit 0
fi
if [ "${1:-}" = s16 ]; then
  # Session 16: fp16 intermediates through two column levels (DNACONV_HBM_INTER=fp16, written in session 15)
  # vs fp32, forward and fwd+bwd, interleaved, with torch.fft; then K = 64K at 1M x 64 forward with two fp16
  # column levels and shorter rows (DNACONV_HBM_ROW) against its one level of 64 and rows of 4096; the
  # two-level GPU tests (hbm file).
  timeout 360 python3 - <<'PY' 2>&1 | tee "$OUT/s16.txt"
from dnaconv.pipelines.ab import forward_sweeps, fwd_bwd_sweeps
C = {"fp32": {}, "fp16": {"DNACONV_HBM_INTER": "fp16"}}
R = {"one": {}, "r1024": {"DNACONV_HBM_INTER": "fp16", "DNACONV_HBM_ROW": "1024"},
     "r2048": {"DNACONV_HBM_INTER": "fp16", "DNACONV_HBM_ROW": "2048"}}
forward_sweeps(((2, 128, 1 << 18, 1 << 18, C), (2, 32, 1 << 20, 1 << 20, C), (2, 8, 1 << 22, 1 << 22, C),
                (1, 256, 1 << 18, 1 << 18, C), (1, 64, 1 << 20, 1 << 20, C), (1, 16, 1 << 22, 1 << 22, C),
                (1, 64, 1 << 20, 65536, R)))
fwd_bwd_sweeps(((2, 128, 1 << 18, 1 << 18, C), (2, 32, 1 << 20, 1 << 20, C), (1, 64, 1 << 20, 65536, C)),
               reps=2)
PY
  gpu_tests "tests/kernels/test_fftconv_hbm.py" "two_column" "${TEST_S:-150}"
  exit 0
fi
if [ "${1:-}" = b13 ]; then
  # Session 13: the HBM backward (DNACONV_HBM_BWD=1) where the reference's autograd runs: full-length filters
  # past N = 2^18 paired (B = 2), and one sequence's one block (the forward on half its spectrum); fwd+bwd
  # ms, two rounds interleaved, torch.fft's autograd first. Then its gradients there (GPU tests).
  timeout 300 python3 - <<'PY' 2>&1 | tee "$OUT/b13.txt"
from dnaconv.pipelines.ab import fwd_bwd_sweeps
C = {"dispatched": {}, "hbm": {"DNACONV_HBM_BWD": "1"}}
fwd_bwd_sweeps(((2, 128, 1 << 18, 1 << 18, C), (2, 32, 1 << 20, 1 << 20, C), (2, 16, 1 << 21, 1 << 21, C),
                (2, 8, 1 << 22, 1 << 22, C), (1, 1024, 1 << 16, 1 << 16, C), (1, 256, 1 << 18, 1 << 18, C),
                (1, 64, 1 << 20, 1 << 20, C), (1, 16, 1 << 22, 1 << 22, C)), reps=2)
PY
  DNACONV_HBM_BWD=1 gpu_tests tests/kernels/test_fftconv_grid.py \
    "one_sequence or gradients_on_the_grid and (L262144-K262144 or L1048576-K1048576 or L2097152 or L4194304)" \
    "${TEST_S:-200}"
  exit 0
fi
if [ "${1:-}" = t13 ]; then
  # Session 13's final code: one sequence's one block on half its spectrum where N = 16,384 (not timed in r13),
  # against the full frame, three rounds interleaved; then the README table's full-length rows (the issue's grid
  # at B = 1 from L = 64K, the paired rows last timed before the fifth session) and a partial row as a control.
  timeout 120 python3 - <<'PY' 2>&1 | tee "$OUT/t13.txt"
from dnaconv.pipelines.ab import forward_sweeps
C = {"herm": {}, "full": {"DNACONV_HBM_ONE": "1", "DNACONV_HBM_HERM": "0"}}
forward_sweeps(((1, 8192, 8192, 8192, C), (1, 2048, 8192, 8192, C)))
PY
  bench_table 400 --case full:1:1024:65536:65536 --case full:1:256:262144:262144 \
    --case full:1:64:1048576:1048576 --case full:1:32:2097152:2097152 --case full:1:16:4194304:4194304 \
    --case full:4:256:65536:65536 --case full:2:128:262144:262144 --case full:2:32:1048576:1048576 \
    --case full:2:16:2097152:2097152 --case full:2:8:4194304:4194304 --case partial:1:32:2300000:16384
  exit 0
fi
if [ "${1:-}" = dbg13 ]; then
  # Session 13: Triton 3.6's miscompile of the last inverse column pass of 64 points on 32 columns in fp16
  # (one sequence at L = 64K, DNACONV_HBM_COLS=32 forces the launch ``monarch_hbm._col_columns`` avoids):
  # compute-sanitizer's first reports, then the result with the precise twiddles (a wrong one, no fault).
  cat > /tmp/one.py <<'PY'
import torch
from dnaconv.kernels.fftconv import fftconv, naive_fftconv
from dnaconv.pipelines.ab import gated_inputs
u, k, bias, pre, post, _ = gated_inputs(1, 1, 1 << 16, 1 << 16, grad=False)
with torch.no_grad():
    y = fftconv(u, k, bias, pre, post).float()
    ref = naive_fftconv(u.float(), k, bias, pre.float(), post.float())
print("err", ((y - ref).norm() / ref.norm()).item())
PY
  DNACONV_HBM_ONE=1 DNACONV_HBM_COLS=32 timeout 200 compute-sanitizer --print-limit 2 python3 /tmp/one.py 2>&1 \
    | grep -v "Host Frame" | head -30 | tee "$OUT/dbg13.txt"
  DNACONV_HBM_ONE=1 DNACONV_HBM_COLS=32 DNACONV_HBM_TRIG=precise python3 /tmp/one.py 2>&1 | tail -1 | tee -a "$OUT/dbg13.txt"
  exit 0
fi
if [ "${1:-}" = r13 ]; then
  # Session 13: the HBM forward keeping half the spectrum of one sequence's one block (HERM) against the full
  # frame (DNACONV_HBM_HERM=0) and torch.fft, the HBM kernel taken where one block of one sequence ran torch.fft
  # (DNACONV_HBM_ONE=1): the issue's full-length rows at B = 1 (L = 16K ... 4M), three rounds interleaved; then
  # pairs at L = 2M and 4M (B = 2, N > 2^21: torch.fft until now); then the HBM GPU tests.
  timeout 330 python3 - <<'PY' 2>&1 | tee "$OUT/r13.txt"
from dnaconv.pipelines.ab import forward_sweeps
C = {"herm": {"DNACONV_HBM_ONE": "1"}, "full": {"DNACONV_HBM_ONE": "1", "DNACONV_HBM_HERM": "0"},
     "dispatched": {}}
forward_sweeps(((1, 1024, 16384, 16384, C), (1, 1024, 65536, 65536, C), (1, 256, 262144, 262144, C),
                (1, 64, 1 << 20, 1 << 20, C), (1, 32, 1 << 21, 1 << 21, C), (1, 16, 1 << 22, 1 << 22, C),
                (2, 16, 1 << 21, 1 << 21, C), (2, 8, 1 << 22, 1 << 22, C), (2, 128, 262144, 262144, C)))
PY
  gpu_tests "tests/kernels/test_fftconv_grid.py tests/kernels/test_fftconv_hbm.py" \
    "one_sequence or forward_on_the_grid or herm or paired or unpaired" "${TEST_S:-200}"
  exit 0
fi
if [ "${1:-}" = t12 ]; then
  # Session 12's final code (the forward's spectrum kept for the backward, the one-kernel spectrum up to N =
  # 1024, the HBM backward's shorter dk tail): the README table, then the on-chip backward GPU tests that x12's
  # time cut off, in what time is left.
  bench_table 240
  gpu_tests "tests/kernels/test_fftconv_monarch.py" "backward or spectrum" "${TEST_S:-270}"
  exit 0
fi
if [ "${1:-}" = x12 ]; then
  # Session 12: the on-chip filter spectrum in one kernel from the taps (monarch._direct_spectrum) against the
  # rfft and its gather (DNACONV_SPECTRUM=rfft): forward and fwd+bwd, three rounds interleaved; then the GPU
  # tests of the spectrum and the half-tile frames, and the issue's grid (test_fftconv_grid.py).
  timeout 330 python3 - <<'PY' 2>&1 | tee "$OUT/x12.txt"
from dnaconv.pipelines.ab import forward_sweeps, fwd_bwd_sweeps
C = {"direct": {}, "rfft": {"DNACONV_SPECTRUM": "rfft"}}
forward_sweeps(((64, 1024, 1024, 1024, C), (32, 1024, 2048, 2048, C), (128, 1024, 512, 512, C),
                (1, 32, 2_300_000, 128, C), (1, 32, 2_300_000, 256, C), (32, 256, 8192, 128, C),
                (32, 256, 8192, 1024, C)))
fwd_bwd_sweeps(((64, 1024, 1024, 1024, C), (32, 256, 8192, 128, C), (32, 256, 8192, 1024, C),
                (1, 32, 2_300_000, 128, C)))
PY
  gpu_tests "tests/kernels/test_fftconv_monarch.py tests/kernels/test_fftconv_grid.py" \
    "spectrum or half or grid" "${TEST_S:-200}"
  exit 0
fi
if [ "${1:-}" = s12 ]; then
  # Session 12: what the filter spectrum costs the on-chip forward (bench computes it every call, as training
  # does): forward ms computing it vs given (fftconv_spectrum), three rounds interleaved; the spectrum alone.
  timeout 200 python3 - <<'PY' 2>&1 | tee "$OUT/s12.txt"
import torch
from dnaconv.kernels.fftconv import fftconv, fftconv_spectrum, naive_fftconv
from dnaconv.kernels.fftconv.monarch import monarch_spectrum
from dnaconv.kernels.fftconv import _route
from dnaconv.pipelines.ab import bench, gated_inputs
for B, D, L, K in ((64, 1024, 1024, 1024), (32, 1024, 2048, 2048), (128, 1024, 512, 512), (1, 32, 2_300_000, 128),
                   (32, 256, 8192, 128), (32, 256, 8192, 1024), (1, 32, 2_300_000, 16384)):
    u, k, bias, pre, post, _ = gated_inputs(B, D, L, K, grad=False)
    plan = _route(L, K, 0, u.dtype, False, 1.0, u.numel(), B)[0]
    with torch.no_grad():
        kf = fftconv_spectrum(k, u, 0)
        t = {"computed": [], "given": []}
        for _ in range(3):
            t["computed"].append(bench(lambda: fftconv(u, k, bias, pre, post)))
            t["given"].append(bench(lambda: fftconv(u, k, bias, pre, post, k_f=kf)))
        spec = bench(lambda: monarch_spectrum(k, plan))
        rfft = bench(lambda: torch.fft.rfft(k, n=plan.n))
    print(f"{B}x{D}x{L} K={K} N={plan.n} cols={plan.cols}: forward computing the spectrum {min(t['computed']):.3f}, "
          f"given {min(t['given']):.3f}; the spectrum alone {spec:.4f} (rfft {rfft:.4f})", flush=True)
    del u, k, bias, pre, post
PY
  exit 0
fi
if [ "${1:-}" = g12 ]; then
  # Session 12: the issue's grid as GPU tests (tests/kernels/test_fftconv_grid.py: L = 1K ... 4M full-length,
  # K = 4K-64K at 1M and 2.3M; forward bf16 and fp32, gradients bf16), then PART=1s of ``pending``.
  timeout "${GRID_S:-260}" python3 -m pytest -v -rf --tb=short --durations=8 -p no:cacheprovider \
    tests/kernels/test_fftconv_grid.py > "$OUT/grid_tests.txt" 2>&1
  grep -E "FAILED|ERROR|passed|failed" "$OUT/grid_tests.txt" | tail -25
  PART=1s TEST_S=${TEST_S:-290} bash "$0" pending
  exit 0
fi
if [ "${1:-}" = h12b ]; then
  # Session 12: the forward's filter spectrum kept for the backward (monarch._shared_spectrum) and the HBM
  # backward's dk tail in fewer torch ops, against DNACONV_SPECTRUM_SHARE=0: fwd+bwd, three rounds interleaved;
  # host ms per fwd+bwd enqueued behind a GPU spin (ab.host_ms) at the training shape, each way, twice.
  timeout 300 python3 - <<'PY' 2>&1 | tee "$OUT/h12b.txt"
from dnaconv.kernels.fftconv import fftconv
from dnaconv.pipelines.ab import env_set, fwd_bwd_sweeps, gated_inputs, host_ms
u, k, bias, pre, post, dy = gated_inputs(16, 128, 8192, 8192)
leaves = [u, k, bias, pre, post]
step = lambda: fftconv(*leaves).backward(dy)
for _ in range(2):
    for share in ("1", "0"):
        with env_set({"DNACONV_SPECTRUM_SHARE": share}):
            print(f"16x128x8192 host ms per fwd+bwd, share={share}: {host_ms(step, 20):.3f}", flush=True)
del u, k, bias, pre, post, dy, leaves
C = {"share": {}, "noshare": {"DNACONV_SPECTRUM_SHARE": "0"}}
fwd_bwd_sweeps(((16, 128, 8192, 8192, C), (64, 1024, 1024, 1024, C), (32, 1024, 2048, 2048, C),
                (128, 1024, 512, 512, C), (16, 1024, 4096, 4096, C), (8, 512, 16384, 16384, C),
                (32, 256, 8192, 1024, C)), reps=3)
PY
  exit 0
fi
if [ "${1:-}" = h12 ]; then
  # Session 12: where the host's time goes at the host-bound shapes (the default model's training shape 16 x 128
  # x 8192 at K = 8192; the streaming shape 1 x 128 x 73,727): each call enqueued behind a GPU spin
  # (ab.host_ms), so that none waits for the GPU; one Triton launch and the torch ops alone; cProfile of fwd+bwd.
  cat > /tmp/h12.py <<'PY'  # @triton.jit needs its source in a file
import torch, triton, triton.language as tl
from dnaconv.kernels.fftconv import fftconv, fftconv_spectrum, naive_fftconv
from dnaconv.pipelines.ab import bench, gated_inputs, host_ms, host_profile, wall

@triton.jit
def small(x_ptr, n, BLOCK: tl.constexpr):
    i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(x_ptr + i, tl.load(x_ptr + i, mask=i < n), mask=i < n)

@triton.jit
def wide(a, b, c, d, e, f, g, h, i, j, k, l, m, n0, n1, n2, n3, n4, n5, n6, n7, n8, n9, n10,
         A: tl.constexpr, B: tl.constexpr, C: tl.constexpr, D: tl.constexpr, E: tl.constexpr, F: tl.constexpr,
         G: tl.constexpr, H: tl.constexpr, I: tl.constexpr, J: tl.constexpr, BLOCK: tl.constexpr):
    o = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(a + o, tl.load(b + o, mask=o < n0), mask=o < n0)

x = [torch.zeros(4096, device="cuda") for _ in range(13)]
ints = [4096, 17, 1, 3, 5000, 64, 128, 7, 9, 11, 8192]
print(f"launch, 2 arguments: {host_ms(lambda: small[(4,)](x[0], 4096, BLOCK=1024), 50) * 1e3:.1f} us", flush=True)
print(f"launch, 24 arguments, 11 constexprs: "
      f"{host_ms(lambda: wide[(4,)](*x, *ints, A=1, B=2, C=3, D=True, E=False, F=1, G=2, H=3, I=4, J=5, BLOCK=1024), 50) * 1e3:.1f} us", flush=True)
e = torch.empty(1)
print(f"torch.empty_like: {host_ms(lambda: torch.empty_like(x[0]), 50) * 1e3:.1f} us", flush=True)
for B, D, L, K in ((16, 128, 8192, 8192), (1, 128, 73727, 8192)):
    u, k, bias, pre, post, dy = gated_inputs(B, D, L, K)
    leaves = [u, k, bias, pre, post]
    kd = k.detach()
    print(f"{B} x {D} x {L}, K = {K}: rfft {host_ms(lambda: torch.fft.rfft(kd, n=16384)) * 1e3:.1f} us", flush=True)
    with torch.no_grad():
        kf = fftconv_spectrum(kd, u, 0)
        fwd = lambda: fftconv(*leaves)
        cached = lambda: fftconv(*leaves, k_f=kf)
        ref = lambda: naive_fftconv(*leaves)
        for name, fn in (("forward", fwd), ("forward, cached spectrum", cached), ("torch.fft forward", ref)):
            print(f"  {name}: host {host_ms(fn):.3f} ms, wall {wall(fn, 20):.3f}, bench {bench(fn):.3f}", flush=True)
    step = lambda: fftconv(*leaves).backward(dy)
    refstep = lambda: naive_fftconv(*leaves).backward(dy)
    for name, fn in (("fwd+bwd", step), ("torch.fft fwd+bwd", refstep)):
        print(f"  {name}: host {host_ms(fn):.3f} ms, wall {wall(fn, 20):.3f}, bench {bench(fn, leaves):.3f}", flush=True)
    if B == 16:
        host_profile(step, 10, 45)
PY
  timeout 200 python3 /tmp/h12.py > "$OUT/h12.txt" 2>&1
  grep -E "us$|ms,|^[0-9]+ x" "$OUT/h12.txt"
  exit 0
fi
if [ "${1:-}" = e11 ]; then
  # Session 11: the default model's training shape (16 x 128 x 8192, K = 8192) with the one-block HBM backward
  # measured 1.554 ms fwd+bwd in c11's sweep and 2.411 in d11's bench (torch.fft 2.47): do_bench and wall
  # time per call (host included) three times each, then torch.profiler's ops by CPU time.
  timeout 150 python3 - <<'PY' > "$OUT/e11.txt" 2>&1
import torch
from dnaconv.kernels.fftconv import fftconv, naive_fftconv
from dnaconv.pipelines.ab import bench, gated_inputs, profile_tables, wall
u, k, bias, pre, post, dy = gated_inputs(16, 128, 8192, 8192)
leaves = [u, k, bias, pre, post]
step = lambda: fftconv(*leaves).backward(dy)
ref = lambda: naive_fftconv(*leaves).backward(dy)
for _ in range(3):
    print(f"fwd+bwd bench {bench(step, leaves):.3f} ms (torch.fft {bench(ref, leaves):.3f}), wall "
          f"{wall(step, 20):.3f} ms (torch.fft {wall(ref, 20):.3f})", flush=True)
with torch.no_grad():
    print(f"forward bench {bench(lambda: fftconv(*leaves)):.3f} wall {wall(lambda: fftconv(*leaves), 20):.3f}")
profile_tables(step, (("cpu_time_total", 45), ("cuda_time_total", 25)))
PY
  grep -E "bench" "$OUT/e11.txt"
  exit 0
fi
if [ "${1:-}" = d11 ]; then
  # Session 11's final code (the fused backward at N = 4096 on half tiles, the fused/HBM backward by cost, the
  # one-block HBM backward from 2^24 elements): the GPU tests of those changes, then the README table.
  gpu_tests "tests/kernels/test_fftconv_monarch.py tests/kernels/test_fftconv_hbm.py" \
    "half_frame_at_4096 or routes_plan or hbm_forward_on_chip or backward_kind or L4001" 150
  bench_table 230
  exit 0
fi
if [ "${1:-}" = c11 ]; then
  # Session 11, after b11: the HBM backward over one block per sequence below HBM_BWD_ONE_BLOCK_SIZE (2^25),
  # where the reference's autograd runs. The threshold dates from the second session, when that backward was
  # host-bound (2.3-2.6 ms of host time per step at the training shape), before the third session removed a
  # stream synchronisation from it. fwd+bwd, as dispatched vs the HBM backward forced, three rounds
  # interleaved; then the GPU tests of b11's changes that its time cut off.
  timeout 200 python3 - <<'PY' 2>&1 | tee "$OUT/c11.txt"
from dnaconv.pipelines.ab import fwd_bwd_sweeps
C = {"now": {}, "hbm": {"DNACONV_HBM_BWD": "1"}}
fwd_bwd_sweeps(((16, 128, 8192, 8192, C), (8, 128, 8192, 8192, C), (4, 1024, 4096, 4096, C),
                (8, 256, 8192, 8192, C), (4, 128, 16384, 16384, C), (128, 1, 73727, 8192, C)), reps=3)
PY
  gpu_tests "tests/kernels/test_fftconv_monarch.py tests/kernels/test_fftconv_hbm.py" "half_frame_at_4096 or \
route_from_dispatch or two_segments or backward_kind or hbm_forward_on_chip or backward_half_frame or saved_z" 250
  exit 0
fi
if [ "${1:-}" = b11 ]; then
  # Session 11, on bwd4096 (the fused backward at N = 4096 on half tiles, 4 warps: full L = 2K fwd+bwd 3.410 ms
  # vs 5.496, with WARPS=4 on the forward too) as the default (``plan.half_backward``, the backward alone on 4
  # warps), and the fused/HBM backward by POINT_PS's costs (windows at K = 1024 fused): fwd+bwd against before
  # (BWD_HALF=2048; the windows' HBM_BWD=1), the forward on 4 warps too (WARPS=4), two segments per program;
  # 2^24 elements, where the reference's autograd ran before; the forward alone on 4 warps. Then GPU tests and
  # the README table.
  timeout 170 python3 - <<'PY' 2>&1 | tee "$OUT/b11.txt"
from dnaconv.pipelines.ab import forward_sweeps, fwd_bwd_sweeps
W = {"DNACONV_MONARCH_WARPS": "4"}
C = {"now": {}, "before": {"DNACONV_MONARCH_BWD_HALF": "2048"}, "w4": W,
     "g2w4": {**W, "DNACONV_MONARCH_BWD_POINTS": "8192"}}
fwd_bwd_sweeps(((32, 1024, 2048, 2048, C), (48, 1024, 1536, 1536, C),
                (8, 1024, 2048, 2048, {"now": {}, "before": {"DNACONV_MONARCH_BWD_HALF": "2048"}}),
                (32, 256, 8192, 1024, {"now": {}, "before": {"DNACONV_HBM_BWD": "1"}})), reps=2)
forward_sweeps(((32, 1024, 2048, 2048, {"now": {}, "w4": W}), (48, 1024, 1536, 1536, {"now": {}, "w4": W})), reps=2)
PY
  gpu_tests "tests/kernels/test_fftconv_monarch.py tests/kernels/test_fftconv_hbm.py" \
    "half or route or two_segments or saved_z or backward_kind or hbm_forward_on_chip" 120
  bench_table 230
  exit 0
fi
if [ "${1:-}" = bwd4096 ]; then
  # Prepared in session 10 for the next: where fwd+bwd misses 3x by most, full-length filters at L = 2K (1.61x:
  # the forward 1.01 ms on chip, the backward about 4.5 through HBM, one block of 8192 paired), the fused
  # on-chip backward forced at N = 4096 (one block: fused, not split), on the usual frame and on half tiles
  # (DNACONV_MONARCH_BWD_HALF=4096, a sweep knob, interpreter-tested), 8 or 4 warps; and the training windows
  # at K = 1024 (2.18x) with the fused backward at N = 2048 against the HBM one (the cost table predicts 30.9
  # against 50.4 ps per output). fwd+bwd ms, interleaved, then the gradients' errors on half tiles, the
  # per-point costs with the HBM backward's, and the GPU test of that knob.
  timeout 240 python3 - <<'PY' 2>&1 | tee "$OUT/bwd4096.txt"
from dnaconv.pipelines.ab import fwd_bwd_sweeps
F = {"DNACONV_MONARCH_FFT": "4096", "DNACONV_HBM_BWD": "0"}
H = {**F, "DNACONV_MONARCH_BWD_HALF": "4096"}
C = {"now": {}, "fused4096": F, "half4096": H, "half4096w4": {**H, "DNACONV_MONARCH_WARPS": "4"}}
fwd_bwd_sweeps(((32, 1024, 2048, 2048, C), (48, 1024, 1536, 1536, C),
                (32, 256, 8192, 1024, {"now": {}, "fused": {"DNACONV_HBM_BWD": "0"}})), reps=2)
PY
  DNACONV_MONARCH_FFT=4096 DNACONV_HBM_BWD=0 DNACONV_MONARCH_BWD_HALF=4096 timeout 60 python3 -c "
from dnaconv.pipelines.ab import grad_errors; grad_errors(((32, 1024, 2048, 2048),))" 2>&1 | tee "$OUT/grads.txt"
  # POINT_PS with the HBM backward's costs, which the ninth session's alignment left unmeasured ("hbm_bwd")
  timeout 150 python3 -c "import json, os; from dnaconv.pipelines.ab import point_costs
json.dump(point_costs(True, hbm_backward=True), open(os.path.join(os.environ['OUT'], 'points11.json'), 'w'), indent=1)" \
    2>&1 | tee "$OUT/points11.txt"
  timeout "${TEST_S:-100}" python3 -m pytest -v -rf --tb=short -p no:cacheprovider \
    tests/kernels/test_fftconv_monarch.py -k "half_frame_at_4096" > "$OUT/tests.txt" 2>&1
  grep -E "PASSED|FAILED|ERROR" "$OUT/tests.txt" | head; tail -2 "$OUT/tests.txt"
  exit 0
fi
if [ "${1:-}" = table10 ]; then
  # Session 10, on bwd10's defaults (the fused backward's launch and POINT_PS at N = 2048, HBM_BWD_MIN_K = 768):
  # the README's kernel table, the fused against the HBM backward about the new HBM_BWD_MIN_K (fwd+bwd,
  # interleaved), then the on-chip backward GPU tests that bwd10's time cut off, and the dispatch's.
  bench_table 220
  timeout 60 python3 - <<'PY' 2>&1 | tee "$OUT/mink10.txt"
from dnaconv.pipelines.ab import fwd_bwd_sweeps
F = {"now": {}, "fused": {"DNACONV_HBM_BWD": "0"}, "hbm": {"DNACONV_HBM_BWD": "1"}}
fwd_bwd_sweeps(((1, 32, 2_300_000, 640, F), (1, 32, 2_300_000, 768, F), (1, 32, 2_300_000, 896, F)), reps=2)
PY
  timeout "${TEST_S:-240}" python3 -m pytest -v -rf --tb=short -p no:cacheprovider --durations=5 \
    tests/kernels/test_fftconv_monarch.py tests/kernels/test_fftconv_hbm.py tests/kernels/test_fftconv.py \
    -k "backward_half_frame or saved_z or across_sequences or own_fft_size or plain_and_half or backward_kind or test_plans" \
    > "$OUT/tests.txt" 2>&1
  grep -c PASSED "$OUT/tests.txt"; grep -E "FAILED|ERROR" "$OUT/tests.txt" | head; tail -8 "$OUT/tests.txt"
  exit 0
fi
if [ "${1:-}" = bwd10 ]; then
  # Session 10, on bknobs10 (the fused backward at N = 2048 on two segments of 4 warps: full L = 1K 1.773 ms vs
  # 2.666 alone) and half10 (the forward's half tiles at N = 4096 passed the GPU tests), both now the defaults:
  # fwd+bwd against the launch before (BWD_POINTS=2048) and the forward's half tiles at 2048 at most, with the
  # backward's half tiles at 4096 (BWD_HALF=4096) and the fused backward against the HBM one at K = 512, 1024;
  # then the backward's launch beyond (four segments per program at N = 1024 and 2048), the per-point costs with
  # the backward (``ab.point_costs``), the gradients' errors, and the on-chip backward and launch GPU tests.
  timeout 200 python3 - <<'PY' 2>&1 | tee "$OUT/bwd10.txt"
from dnaconv.pipelines.ab import fwd_bwd_sweeps
OLD = {"DNACONV_MONARCH_BWD_POINTS": "2048", "DNACONV_MONARCH_HALF": "2048"}
C = {"now": {}, "old": OLD}
H = {**C, "bh4096": {"DNACONV_MONARCH_BWD_HALF": "4096"}}
F = {**C, "fused": {"DNACONV_HBM_BWD": "0"}}
fwd_bwd_sweeps(((64, 1024, 1024, 1024, C), (1, 32, 2_300_000, 128, C), (1, 32, 2_300_000, 256, C),
                (1, 32, 2_300_000, 384, C), (32, 256, 8192, 128, C), (128, 1024, 512, 512, C),
                (32, 1024, 2048, 2048, H), (1, 32, 2_300_000, 512, F), (1, 32, 2_300_000, 1024, F)), reps=2)
PY
  timeout 90 python3 - <<'PY' 2>&1 | tee -a "$OUT/bwd10.txt"
import torch
from dnaconv.kernels.fftconv.monarch import _fftconv_bwd, _fftconv_fwd
from dnaconv.pipelines.ab import env_set, gated_inputs, interleaved_envs
def knobs(rows, pts, warps):
    return {"DNACONV_MONARCH_ROWS": str(rows), "DNACONV_MONARCH_BWD_POINTS": str(pts), "DNACONV_MONARCH_WARPS": str(warps)}
u, k, bias, pre, post, dy = gated_inputs(1, 32, 2_300_000, 128, grad=False)
for n, cfgs in ((1024, {"r128w4": knobs(128, 4096, 4), "r128w8": knobs(128, 4096, 8)}),
                (2048, {"r128p8192w4": knobs(128, 8192, 4), "r128p8192w8": knobs(128, 8192, 8)})):
    with env_set({"DNACONV_MONARCH_FFT": str(n)}), torch.no_grad():
        z = torch.empty_like(u)
        _fftconv_fwd(u, k, bias, pre, post, None, None, 1.0, z)
        line = interleaved_envs(lambda z=z: _fftconv_bwd(dy, u, k, bias, pre, post, None, None, z), {"now": {}, **cfgs}, 2)
    print(f"N={n} K=128 backward alone: {line}", flush=True)
PY
  timeout 100 python3 -c "from dnaconv.pipelines.ab import point_costs; point_costs(backward=True)" 2>&1 | tee "$OUT/points10.txt"
  timeout 60 python3 -c "from dnaconv.pipelines.ab import grad_errors; grad_errors(((64, 1024, 1024, 1024),
    (1, 32, 2_300_000, 128), (32, 1024, 2048, 2048), (1, 32, 2_300_000, 512)))" 2>&1 | tee "$OUT/grads.txt"
  DNACONV_MONARCH_BWD_HALF=4096 timeout 30 python3 -c "from dnaconv.pipelines.ab import grad_errors;
    grad_errors(((32, 1024, 2048, 2048),))" 2>&1 | tee -a "$OUT/grads.txt"
  timeout "${TEST_S:-150}" python3 -m pytest -v -rf --tb=short -p no:cacheprovider --durations=5 \
    tests/kernels/test_fftconv_monarch.py -k "backward or launch or half" > "$OUT/tests.txt" 2>&1
  grep -c PASSED "$OUT/tests.txt"; grep -E "FAILED|ERROR" "$OUT/tests.txt" | head; tail -8 "$OUT/tests.txt"
  exit 0
fi
if [ "${1:-}" = bknobs10 ]; then
  # Prepared in session 9 for the next: the fused on-chip backward's launch (points per program -> segments,
  # warps, register cap, holding v), as knobs9 did for the forward, where fwd+bwd misses 3x: full L = 1K (half
  # tiles at N = 2048; 2.47x), with K = 128 at L = 2.3M (N = 2048 since pick9) as a control. The backward alone
  # (z from the forward), ms, interleaved.
  timeout 240 python3 - <<'PY' 2>&1 | tee "$OUT/bknobs10.txt"
import itertools, torch
from dnaconv.kernels.fftconv.monarch import _fftconv_bwd, _fftconv_fwd
from dnaconv.pipelines.ab import gated_inputs, interleaved_envs
def grid(holds):
    cfgs = {"now": {}}
    for p, w, c, h in itertools.product((2048, 4096), (4, 8), (0, 168), holds):
        cfgs[f"p{p}w{w}c{c}h{h}"] = {"DNACONV_MONARCH_BWD_POINTS": str(p), "DNACONV_MONARCH_WARPS": str(w),
                                     "DNACONV_MONARCH_MAXNREG": str(c), "DNACONV_MONARCH_HOLD": str(h)}
    return cfgs
# full L = 1K is framed on half tiles, which hold v whatever HOLD says
for B, D, L, K, cfgs in ((64, 1024, 1024, 1024, grid((1,))), (1, 32, 2_300_000, 128, grid((0, 1)))):
    u, k, bias, pre, post, dy = gated_inputs(B, D, L, K, grad=False)
    z = torch.empty_like(u)
    with torch.no_grad():
        _fftconv_fwd(u, k, bias, pre, post, None, None, 1.0, z)
        line = interleaved_envs(lambda: _fftconv_bwd(dy, u, k, bias, pre, post, None, None, z), cfgs, 2)
    print(f"{B}x{D}x{L} K={K} backward alone: {line}", flush=True)
    del u, k, bias, pre, post, dy, z
    torch.cuda.empty_cache()
PY
  exit 0
fi
if [ "${1:-}" = half10 ]; then
  # Prepared in session 9 for the next: the half-tile frame at N = 4096 (DNACONV_MONARCH_HALF=4096; knobs9: full
  # L = 2K 1.003 vs 1.068 ms, right) before it becomes the default: the on-chip tests with it on (in a process of
  # its own), then forward and fwd+bwd against it off, interleaved, at one-block lengths it covers (L and K in
  # (1024, 2048]).
  DNACONV_MONARCH_HALF=4096 timeout 200 python3 -m pytest -q -rf --tb=short -p no:cacheprovider \
    tests/kernels/test_fftconv_monarch.py -k "half or fp32 or within_2x or saved_z or across" > "$OUT/tests.txt" 2>&1
  tail -3 "$OUT/tests.txt"
  timeout 200 python3 - <<'PY' 2>&1 | tee "$OUT/half10.txt"
from dnaconv.pipelines.ab import forward_sweeps, fwd_bwd_sweeps
H = {"now": {}, "half": {"DNACONV_MONARCH_HALF": "4096"}}
cases = ((32, 1024, 2048, 2048, H), (48, 1024, 1536, 1536, H), (32, 1024, 2048, 1100, H), (8, 1024, 2000, 2000, H))
forward_sweeps(cases)
fwd_bwd_sweeps(cases)
PY
  exit 0
fi
if [ "${1:-}" = knobs9 ]; then
  # Session 9: first, in processes of their own (triton 3.6 faulted there before), the half-tile frame at N =
  # 4096 (DNACONV_MONARCH_HALF=4096) at full L = 2K, forward ms and errors. Then the on-chip forward's launch
  # (rows per product -> segments per program, warps, register cap, holding v) where the forward is 3.5-3.8x
  # torch.fft: full L = 1K (N = 2048, half tiles; 5% short of 4x), full L = 2K and the training windows at
  # K = 1024 (N = 4096). Forward ms, interleaved, with errors, within $KNOB_S seconds.
  for rows in 128 64; do
    timeout 40 python3 - "$rows" <<'PY' 2>&1 | tee -a "$OUT/half4096.txt"
import sys
from dnaconv.pipelines.ab import forward_sweeps
r = {"DNACONV_MONARCH_HALF": "4096", "DNACONV_MONARCH_ROWS": sys.argv[1]}
forward_sweeps(((32, 1024, 2048, 2048, {"now": {}, f"half r{sys.argv[1]}": r,
                                        f"half r{sys.argv[1]}w4": {**r, "DNACONV_MONARCH_WARPS": "4"}}),))
PY
  done
  timeout "${KNOB_S:-240}" python3 - <<'PY' 2>&1 | tee "$OUT/knobs9.txt"
import itertools
from dnaconv.pipelines.ab import forward_sweeps
def grid(rows, holds=(0, 1)):
    cfgs = {"now": {}}
    for r, w, c, h in itertools.product(rows, (4, 8), (0, 168), holds):
        cfgs[f"r{r}w{w}c{c}h{h}"] = {"DNACONV_MONARCH_ROWS": str(r), "DNACONV_MONARCH_WARPS": str(w),
                                     "DNACONV_MONARCH_MAXNREG": str(c), "DNACONV_MONARCH_HOLD": str(h)}
    return cfgs
# full L = 1K is framed on half tiles, which hold v whatever HOLD says
forward_sweeps(((64, 1024, 1024, 1024, grid((32, 128), (1,))), (32, 256, 8192, 1024, grid((64, 128))),
                (32, 1024, 2048, 2048, grid((64, 128)))), reps=2)
PY
  exit 0
fi
if [ "${1:-}" = again9 ]; then
  # Session 9: table9's bench run again in a second call (run-to-run variation: table9 measured K = 4096-16K,
  # whose plans did not change, up to 13% slower than rows8), K = 256 aligned vs =strict vs K' - 1 (align9:
  # 0.501 forward, table9: 0.626), then the on-chip tests whose plans the new POINT_PS moved.
  bench_table 200
  timeout 60 python3 - <<'PY' 2>&1 | tee "$OUT/k256.txt"
from dnaconv.pipelines.ab import forward_sweeps
A = {"now": {}, "strict": {"DNACONV_FFT_ALIGN": "strict"}, "k-1": {"DNACONV_FFT_ALIGN": "0"}}
forward_sweeps(((1, 32, 2_300_000, 256, A), (1, 32, 2_300_000, 4096, {"now": {}})))
PY
  timeout "${TEST_S:-120}" python3 -m pytest -v -rf --tb=short -p no:cacheprovider tests/kernels/test_fftconv_monarch.py \
    -k "aligned_overlap_on_chip or test_plan or dispatch or own_fft_size" > "$OUT/tests.txt" 2>&1
  grep -c PASSED "$OUT/tests.txt"; grep -E "FAILED|ERROR" "$OUT/tests.txt" | head; tail -2 "$OUT/tests.txt"
  exit 0
fi
if [ "${1:-}" = table9 ]; then
  # Session 9, on pick9's POINT_PS: the README's kernel table (``dnaconv bench fftconv``), the gradients where
  # the picks moved (the fused backward at N = 2048 for K = 128 and 200; K = 512 through HBM blocks of 32,768)
  # against fp32 torch.fft, then the GPU tests of PART=2b (``pending``).
  bench_table 330
  timeout 60 python3 -c "from dnaconv.pipelines.ab import grad_errors; grad_errors(((1, 32, 2_300_000, 128),
    (1, 32, 2_300_000, 200), (1, 32, 2_300_000, 512)))" 2>&1 | tee "$OUT/grads.txt"
  PART=2b TEST_S=${TEST_S:-150} bash "$0" pending
  exit 0
fi
if [ "${1:-}" = pick9 ]; then
  # Session 9: plan.POINT_PS from align9's points9.json (every size framed aligned) against the table before
  # (sweep8's and older figures), each table's picks timed end to end, interleaved, with torch.fft: forward
  # where the forward's pick moves (K = 384-2048 and 16K at L = 2.3M, windows of 16K at K = 4096; on chip at
  # K = 512 and 1024 as a third), fwd+bwd where the fused backward's moves (K = 128, 200: 1024 -> 2048) and
  # K = 384-1024. Then the GPU tests of PART=1 (``pending``).
  timeout 240 python3 - <<'PY' 2>&1 | tee "$OUT/pick9.txt"
from dnaconv.pipelines.ab import forward_sweeps, fwd_bwd_sweeps
OLD = {"forward": {512: 6.62, 1024: 7.22, 2048: 9.77, 4096: 11.52},
       "backward": {512: 23.03, 1024: 26.55, 2048: 29.79},
       "hbm": {8192: 9.87, 16384: 10.33, 32768: 12.53, 65536: 11.96, 131072: 15.04, 262144: 17.81}}
T = {"new": {}, "old": {"POINT_PS": OLD}}
L = 2_300_000
forward_sweeps(((1, 32, L, 384, T), (1, 32, L, 512, {**T, "chip": {"DNACONV_MONARCH_FFT": "1024"}}),
                (1, 32, L, 768, T), (1, 32, L, 1024, {**T, "chip": {"DNACONV_MONARCH_FFT": "2048"}}),
                (1, 32, L, 1536, T), (1, 32, L, 2048, T), (1, 32, L, 16384, T), (8, 128, 16384, 4096, T)))
fwd_bwd_sweeps(((1, 32, L, 128, T), (1, 32, L, 200, T), (1, 32, L, 384, T), (1, 32, L, 512, T),
                (1, 32, L, 1024, T), (8, 128, 16384, 4096, T)))
PY
  PART=1 TEST_S=${TEST_S:-300} bash "$0" pending
  exit 0
fi
if [ "${1:-}" = align9 ]; then
  # Prepared in session 8, run in session 9: plan.block_overlap aligns where that adds at most one block in 64 (the
  # default since) against =strict (no block added: K = 64-256 at L = 2.3M stayed unaligned) and K' - 1;
  # forward (with errors) and fwd+bwd ms, interleaved, with torch.fft; the windows (aligned either way) as a
  # control. Then the README table's rows it changes in a bench run, and plan.POINT_PS re-measured.
  timeout 200 python3 - <<'PY' 2>&1 | tee "$OUT/align9.txt"
from dnaconv.pipelines.ab import forward_sweeps, fwd_bwd_sweeps
A = {"now": {}, "strict": {"DNACONV_FFT_ALIGN": "strict"}, "k-1": {"DNACONV_FFT_ALIGN": "0"}}
cases = ((1, 32, 2_300_000, 128, A), (1, 32, 2_300_000, 256, A), (1, 32, 2_300_000, 64, A),
         (1, 32, 2_300_000, 200, A), (32, 256, 8192, 128, A))
forward_sweeps(cases)
fwd_bwd_sweeps(cases)
PY
  timeout 100 dnaconv bench fftconv --dtype bfloat16 --case partial:1:32:2300000:128 \
    --case partial:1:32:2300000:256 2>&1 | tee "$OUT/align9_table.txt"
  # plan.POINT_PS again, every size framed aligned now (sweep8's mixed aligned and unaligned sizes)
  timeout 120 python3 -c "import json, os; from dnaconv.pipelines.ab import point_costs
json.dump(point_costs(backward=True), open(os.path.join(os.environ['OUT'], 'points9.json'), 'w'), indent=1)" \
    2>&1 | tee "$OUT/points9.txt"
  exit 0
fi
if [ "${1:-}" = final7 ]; then
  # Session 7, after cols7: rows of 32 x 64 capped at 168 registers and 32 columns per program in column passes
  # of 64 points, against the launch before (restored by the variables of "before"), forward ms, interleaved;
  # then the GPU tests of PART=1 (``pending``).
  timeout 100 python3 - <<'PY' 2>&1 | tee "$OUT/final7.txt"
from dnaconv.pipelines.ab import forward_sweeps
B2048 = {"new": {}, "before": {"DNACONV_MONARCH_MAXNREG": "0"}}
BCOLS = {"new": {}, "before": {"DNACONV_HBM_COLS": "64"}}
forward_sweeps(((1, 32, 2_300_000, 16384, B2048), (1, 32, 2_300_000, 8192, B2048),
                (1, 32, 2_300_000, 4096, B2048), (8, 512, 16384, 16384, B2048), (1, 64, 1 << 20, 65536, BCOLS)))
PY
  PART=1 TEST_S=${TEST_S:-270} bash "$0" pending
  exit 0
fi
if [ "${1:-}" = cols7 ]; then
  # Session 7: columns per column-pass program (DNACONV_HBM_COLS, 64 by default) now that the forward's
  # column passes are of 32 points from K = 4096 (rows of 2048); rows of 32 x 64 capped at 168 registers
  # (sm_90 build: 96 bytes spilled, three programs per SM). Forward ms, interleaved, with torch.fft, errors.
  timeout 200 python3 - <<'PY' 2>&1 | tee "$OUT/cols7.txt"
from dnaconv.pipelines.ab import forward_sweeps
G = "DNACONV_HBM_COLS"; C = "DNACONV_MONARCH_MAXNREG"
COLS = {"now": {}, "cols32": {G: "32"}, "cols128": {G: "128"}, "c168": {C: "168"}}
forward_sweeps(((1, 32, 2_300_000, 16384, COLS), (1, 32, 2_300_000, 8192, COLS),
                (1, 32, 2_300_000, 4096, COLS), (8, 512, 16384, 16384, COLS), (1, 128, 73727, 8192, COLS),
                (1, 32, 2_300_000, 2048, COLS), (1, 64, 1 << 20, 65536, COLS), (16, 128, 8192, 8192, COLS)))
PY
  exit 0
fi
if [ "${1:-}" = fb7 ]; then
  # Session 7: fwd+bwd with the forward's new rows and row launches vs before (as in rows7), interleaved, for
  # the table rows whose fwd+bwd moved in rows7's table run (K = 512, 1024, 2048) and K = 16K; those rows of
  # the table again, then the GPU tests of PART=1 (``pending``).
  timeout 150 python3 - <<'PY' 2>&1 | tee "$OUT/fb7.txt"
from dnaconv.pipelines.ab import fwd_bwd_sweeps
C = "DNACONV_MONARCH_MAXNREG"
UNCAPPED = {"new": {}, "before": {C: "0"}}
fwd_bwd_sweeps(((1, 32, 2_300_000, 2048, UNCAPPED), (1, 32, 2_300_000, 1024, UNCAPPED),
                (1, 32, 2_300_000, 512, {"new": {}, "before": {}}),
                (1, 32, 2_300_000, 16384, {"new": {}, "before": {"DNACONV_HBM_ROW": "4096"}})))
PY
  timeout 100 dnaconv bench fftconv --dtype bfloat16 --case partial:1:32:2300000:512 --case partial:1:32:2300000:1024 \
    --case partial:1:32:2300000:2048 2>&1 | tee "$OUT/again.txt"
  PART=1 TEST_S=${TEST_S:-300} bash "$0" pending
  exit 0
fi
if [ "${1:-}" = rows7 ]; then
  # Session 7: the HBM forward's rows of 2048 points (plan._row_caps) and the row pass's launch per row size
  # (monarch._ROW_LAUNCH) against the ones before (restored by the variables of "before"), forward ms,
  # interleaved, with torch.fft and errors; rows of 512 with a register cap. Then the README table (table4's).
  timeout 200 python3 - <<'PY' 2>&1 | tee "$OUT/rows7.txt"
from dnaconv.pipelines.ab import forward_sweeps
ROW = "DNACONV_HBM_ROW"; R = "DNACONV_MONARCH_ROWS"; W = "DNACONV_MONARCH_WARPS"; C = "DNACONV_MONARCH_MAXNREG"
ROWS = {"new": {}, "before": {ROW: "4096"}}  # 64 x 64 rows, one per program, as before
R2048 = {"new": {}, "before": {R: "128", W: "8"}}  # four 32 x 64 rows per 8-warp program
R1024 = {"new": {}, "before": {C: "0"}}  # 32 x 32 rows uncapped
R512 = {"new": {}, "c168": {C: "168"}}
forward_sweeps(((1, 32, 2_300_000, 16384, ROWS), (1, 32, 2_300_000, 8192, ROWS),
                (1, 32, 2_300_000, 4096, ROWS), (4, 256, 65536, 65536, ROWS),
                (1, 128, 73727, 8192, R2048), (8, 512, 16384, 16384, R2048),
                (1, 32, 2_300_000, 2048, R1024), (16, 128, 8192, 8192, R1024),
                (1, 32, 2_300_000, 1024, R1024), (1, 32, 2_300_000, 512, R512)))
PY
  bench_table 300
  exit 0
fi
if [ "${1:-}" = rowsweep ]; then
  # Session 7: the HBM forward's row size and the row pass's launch. Rows of 64 x 64 (K >= 4096 at long L) vs
  # rows of 1024 (a column pass of 64) or 2048 at one or two rows per 4-warp program (sm_90 builds: 167 and
  # 183 registers, no spill); rows of 32 x 64 (G = 4, 8 warps: 181 registers, one program per SM) and 32 x 32
  # at other launches. Forward ms, interleaved, with torch.fft and errors.
  timeout 420 python3 - <<'PY' 2>&1 | tee "$OUT/rowsweep.txt"
from dnaconv.pipelines.ab import forward_sweeps
ROW = "DNACONV_HBM_ROW"; R = "DNACONV_MONARCH_ROWS"; W = "DNACONV_MONARCH_WARPS"; C = "DNACONV_MONARCH_MAXNREG"
R64 = {"now": {}, "row1024": {ROW: "1024"}, "row1024-g2": {ROW: "1024", R: "64"},
       "row2048-g1w4": {ROW: "2048", R: "32", W: "4"}, "row2048-g2w4": {ROW: "2048", R: "64", W: "4"}}
R32x64 = {"now": {}, "g1w4": {R: "32", W: "4"}, "g2w4": {R: "64", W: "4"}, "g2w8": {R: "64"},
          "row1024": {ROW: "1024"}}
R32 = {"now": {}, "c168": {C: "168"}, "g2w4": {R: "64"}, "g8w8": {R: "256", W: "8"}}
forward_sweeps(((1, 32, 2_300_000, 16384, R64), (1, 32, 2_300_000, 8192, R64),
                (1, 32, 2_300_000, 4096, R64), (1, 64, 1 << 20, 65536, R64),
                (1, 128, 73727, 8192, R32x64), (8, 512, 16384, 16384, R32x64),
                (1, 32, 2_300_000, 2048, R32), (16, 128, 8192, 8192, R32)))
PY
  exit 0
fi
if [ "${1:-}" = left ]; then
  # Session 7: the HBM forward's row pass with stage 1 as a left product (one row per program, no permutes:
  # DNACONV_HBM_LEFT=1 in commit 3d6f13b, reverted as no faster; without it every configuration below runs the
  # current kernel) against now, per row size and launch (warps, register cap); forward ms, interleaved, with
  # torch.fft and errors. Then the host's time per forward call at the small shapes, by function
  # (cProfile), and the windows K = 1024 row of the table (fwd+bwd).
  timeout 330 python3 - <<'PY' 2>&1 | tee "$OUT/left.txt"
from dnaconv.pipelines.ab import forward_sweeps
LEFT = "DNACONV_HBM_LEFT"; W = "DNACONV_MONARCH_WARPS"; C = "DNACONV_MONARCH_MAXNREG"
R64 = {"now": {}, "left-w4": {LEFT: "1", C: "0"}, "left-w4c168": {LEFT: "1"}}
R32x64 = {"now": {}, "left-w8": {LEFT: "1"}, "left-w4": {LEFT: "1", W: "4"}}
R32 = {"now": {}, "left-w4": {LEFT: "1"}, "left-w8": {LEFT: "1", W: "8"}}
forward_sweeps(((1, 32, 2_300_000, 8192, R64), (1, 32, 2_300_000, 16384, R64),
                (1, 32, 2_300_000, 4096, R64), (1, 64, 1 << 20, 65536, R64),
                (1, 128, 73727, 8192, R32x64), (8, 512, 16384, 16384, R32x64),
                (1, 32, 2_300_000, 2048, R32), (16, 128, 8192, 8192, R32)))
PY
  timeout 90 python3 - <<'PY' 2>&1 | tee "$OUT/hostprof.txt"
import cProfile, pstats, time, torch
from dnaconv.kernels.fftconv import fftconv
from dnaconv.pipelines.ab import gated_inputs
for B, D, L, K in ((1, 128, 73727, 8192), (16, 128, 8192, 8192)):
    u, k, bias, pre, post, dy = gated_inputs(B, D, L, K, grad=False)
    with torch.no_grad():
        fftconv(u, k, bias, pre, post); torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(100):
            fftconv(u, k, bias, pre, post)
        host = (time.perf_counter() - t) * 10
        torch.cuda.synchronize()
        print(f"{B}x{D}x{L} K={K}: host {host:.3f} ms per forward, wall {(time.perf_counter() - t) * 10:.3f}")
        pr = cProfile.Profile(); pr.enable()
        for _ in range(100):
            fftconv(u, k, bias, pre, post)
        pr.disable(); torch.cuda.synchronize()
    pstats.Stats(pr).sort_stats("tottime").print_stats(22)
    del u, k, bias, pre, post, dy
PY
  timeout 60 dnaconv bench fftconv --dtype bfloat16 --case partial:32:256:8192:1024 2>&1 | tee "$OUT/windows.txt"
  exit 0
fi
if [ "${1:-}" = table4 ]; then
  # Session 6: the README's kernel table (``dnaconv bench fftconv``: each case against torch.fft in one run;
  # fwd+bwd with the inputs' gradients reset before each call) with fp16 DFT matrices, the backward's rows of at
  # most 2048 points and K = 4096's forward at N = 65,536; every gradient against fp32 torch.fft.
  bench_table 400
  timeout 90 python3 -c "from dnaconv.pipelines.ab import grad_errors; grad_errors(((1, 32, 2_300_000, 16384),
    (1, 64, 1 << 20, 65536), (1, 32, 2_300_000, 4096), (32, 1024, 2048, 2048)))" 2>&1 | tee "$OUT/grads.txt"
  exit 0
fi
if [ "${1:-}" = rest ]; then
  # The GPU tests named in gpu_remaining_tests.txt (untracked, one node id a line: those a cut-short run did not
  # reach), -v, within TEST_S seconds.
  timeout "${TEST_S:-300}" python3 -m pytest -v -rf --tb=short -p no:cacheprovider $(cat gpu_remaining_tests.txt) \
    > "$OUT/tests.txt" 2>&1
  grep -c PASSED "$OUT/tests.txt"; grep -E "FAILED|ERROR" "$OUT/tests.txt" | head; tail -2 "$OUT/tests.txt"
  exit 0
fi
if [ "${1:-}" = halfcheck ]; then
  # Session 6: the fp16 DFT matrices (now) against fp32 (DNACONV_DFT_HALF=0) where table4 ran slower than the
  # table before (K = 1024, 2048 through HBM rows of 1024 points) and on chip; forward and fwd+bwd, interleaved.
  timeout 200 python3 - <<'PY' 2>&1 | tee "$OUT/halfcheck.txt"
import torch
from dnaconv.kernels.fftconv import fftconv
from dnaconv.pipelines.ab import gated_inputs, interleaved_envs as configs
CFGS = {"now": {}, "f32mat": {"DNACONV_DFT_HALF": "0"}}
for B, D, L, K in ((1, 32, 2_300_000, 1024), (1, 32, 2_300_000, 2048), (1, 32, 2_300_000, 512),
                   (1, 32, 2_300_000, 128), (1, 32, 2_300_000, 256)):
    u, k, bias, pre, post, dy = gated_inputs(B, D, L, K)
    args = (u, k, bias, pre, post)
    with torch.no_grad():
        f = configs(lambda: fftconv(*args), CFGS, 4)
    fb = configs(lambda: fftconv(*args).backward(dy), CFGS, 3, list(args))
    print(f"{B}x{D}x{L} K={K} fwd: {f} | fwd+bwd: {fb}", flush=True)
    del u, k, bias, pre, post, dy, args
    torch.cuda.empty_cache()
PY
  exit 0
fi
if [ "${1:-}" = fbcheck ]; then
  # fwd+bwd (gradients reset each call) with rows of 4096 points as now (one per program, 4 warps, 168
  # registers, lazy; the dk pass lazy) against the launch before (DNACONV_MONARCH_ROWS=128, DNACONV_HBM_LAZY=0),
  # interleaved, with torch.fft, at the HBM shapes whose fwd+bwd the table quotes.
  timeout 200 python3 - <<'PY' 2>&1 | tee "$OUT/fbcheck.txt"
from dnaconv.kernels.fftconv import fftconv, naive_fftconv
from dnaconv.pipelines.ab import bench, gated_inputs, interleaved_envs
CFGS = {"now": {}, "before": {"DNACONV_MONARCH_ROWS": "128", "DNACONV_HBM_LAZY": "0"}}
for B, D, L, K in ((1, 32, 2_300_000, 8192), (1, 32, 2_300_000, 16384), (1, 64, 1 << 20, 65536)):
    u, k, bias, pre, post, dy = gated_inputs(B, D, L, K)
    leaves = [u, k, bias, pre, post]
    torch_ms = bench(lambda: naive_fftconv(u, k, bias, pre, post).backward(dy), leaves)
    line = interleaved_envs(lambda: fftconv(u, k, bias, pre, post).backward(dy), CFGS, 3, leaves)
    print(f"{B}x{D}x{L} K={K} fwd+bwd: torch {torch_ms:.3f} {line}", flush=True)
    del u, k, bias, pre, post, dy, leaves
PY
  exit 0
fi
if [ "${1:-}" = table3 ]; then
  # The README table's rows that take the HBM kernels (``dnaconv bench fftconv``, each case against torch.fft in
  # one run; the on-chip rows are table2's), after the launch of rows of 4096 points; every gradient against
  # fp32 torch.fft; then the GPU tests named in gpu_remaining_tests.txt (untracked, one node id a line: those a
  # cut-short run did not reach) or else the HBM tests (-v).
  bench_table 230 --case partial:1:32:2300000:512 --case partial:1:32:2300000:4096 \
    --case partial:1:32:2300000:8192 --case partial:1:128:73727:8192 --case partial:1:32:2300000:16384 \
    --case partial:1:64:1048576:65536 --case full:16:1024:4096:4096 --case full:16:128:8192:8192 \
    --case full:8:512:16384:16384
  timeout 70 python3 -c "from dnaconv.pipelines.ab import grad_errors; grad_errors()" 2>&1 | tee "$OUT/grads.txt"
  tests=tests/kernels/test_fftconv_hbm.py
  [ -f gpu_remaining_tests.txt ] && tests=$(cat gpu_remaining_tests.txt)
  timeout "${TEST_S:-120}" python3 -m pytest -v -rf --tb=short -p no:cacheprovider $tests > "$OUT/tests.txt" 2>&1
  grep -c PASSED "$OUT/tests.txt"; grep -E "FAILED|ERROR" "$OUT/tests.txt" | head; tail -2 "$OUT/tests.txt"
  exit 0
fi
if [ "${1:-}" = table2 ]; then
  # The README's kernel table (``dnaconv bench fftconv``: each case against torch.fft in one run; fwd+bwd with
  # the inputs' gradients reset before each call) with the one-block full-length rows; a check of every gradient
  # of the Triton fwd+bwd against fp32 torch.fft (bf16 torch.fft's error alongside); the skip term folded into the
  # filter or not (DNACONV_HBM_FOLD), interleaved; then GPU tests of the HBM backward, as time allows.
  bench_table 390
  timeout 70 python3 -c "from dnaconv.pipelines.ab import grad_errors; grad_errors()" 2>&1 | tee "$OUT/grads.txt"
  timeout 60 python3 - <<'PY' 2>&1 | tee "$OUT/fold.txt"
# the skip term folded into the filter's spectrum (monarch_hbm._folds) or not, forward and fwd+bwd
import os, torch
from dnaconv.kernels.fftconv import fftconv, naive_fftconv
from dnaconv.pipelines.ab import fwd_bwd_knob, gated_inputs, interleaved
for B, D, L, K in ((1, 32, 2_300_000, 1024), (1, 32, 2_300_000, 4096), (1, 32, 2_300_000, 8192)):
    u, k, bias, pre, post, dy = gated_inputs(B, D, L, K, grad=False)
    with torch.no_grad():
        ref = naive_fftconv(*(x.float() for x in (u, k, bias, pre, post)))
        errs = []
        for v in ("1", "0"):
            os.environ["DNACONV_HBM_FOLD"] = v
            y = fftconv(u, k, bias, pre, post).float()
            errs.append(f"err fold={v} {((y - ref).norm() / ref.norm()).item():.2e}")
        del os.environ["DNACONV_HBM_FOLD"], ref, y
        line = interleaved("DNACONV_HBM_FOLD", ["1", "0", "1", "0"], lambda: fftconv(u, k, bias, pre, post), "fwd fold=")
    del u, k, bias, pre, post, dy
    line.append("| fwd+bwd " + fwd_bwd_knob((B, D, L, K), "DNACONV_HBM_FOLD", ["1", "0", "1", "0"], "fold="))
    print(f"{B}x{D}x{L} K={K}: " + " ".join(errs + line), flush=True)
    torch.cuda.empty_cache()
PY
  timeout 40 python3 -m pytest -q -rA --tb=short -p no:cacheprovider -n 8 tests/kernels/test_fftconv_hbm.py -k "backward" > "$OUT/tests.txt" 2>&1
  grep -E "PASSED|FAILED|ERROR|passed|failed" "$OUT/tests.txt" | tail -30
  exit 0
fi
if [ "${1:-}" = host ]; then
  # Small shapes, where the host may set the pace: the streaming shape's forward (1 x 128 x 73,727, K = 8192)
  # and the training shape's fwd+bwd (16 x 128 x 8192, K = 8192), do_bench against the host's own time per
  # call (a loop of launches without synchronising, divided by its length), with the skip term folded or not.
  timeout 150 python3 - <<'PY' 2>&1 | tee "$OUT/host.txt"
import os, time, torch
from dnaconv.kernels.fftconv import fftconv, naive_fftconv
from dnaconv.pipelines.ab import bench, gated_inputs
def host(fn, n=200):
    fn(); torch.cuda.synchronize(); t = time.perf_counter()
    for _ in range(n):
        fn()
    t_host = (time.perf_counter() - t) / n * 1e3
    torch.cuda.synchronize()
    return t_host, (time.perf_counter() - t) / n * 1e3
for B, D, L, K, grad in ((1, 128, 73727, 8192, False), (16, 128, 8192, 8192, True), (1, 32, 2_300_000, 8192, False)):
    u, k, bias, pre, post, dy = gated_inputs(B, D, L, K, grad=grad)
    leaves = [u, k, bias, pre, post] if grad else None
    step = (lambda: fftconv(u, k, bias, pre, post).backward(dy)) if grad else (lambda: fftconv(u, k, bias, pre, post))
    ref = (lambda: naive_fftconv(u, k, bias, pre, post).backward(dy)) if grad else (lambda: naive_fftconv(u, k, bias, pre, post))
    line = [f"torch {bench(ref, leaves):.3f}"]
    for fold in ("1", "0", "1", "0"):
        os.environ["DNACONV_HBM_FOLD"] = fold
        h, w = host(step)
        line.append(f"fold={fold} bench {bench(step, leaves):.3f} host {h:.3f} wall {w:.3f}")
    os.environ.pop("DNACONV_HBM_FOLD")
    print(f"{B}x{D}x{L} K={K} {'fwd+bwd' if grad else 'fwd'}: " + " | ".join(line), flush=True)
    del u, k, bias, pre, post, dy
PY
  timeout 60 dnaconv bench fftconv --dtype bfloat16 --case partial:1:128:73727:8192 --case full:16:128:8192:8192 2>&1 | tee "$OUT/small.txt"
  exit 0
fi
if [ "${1:-}" = hbmpts ]; then
  # plan.POINT_PS's "forward" and "hbm" rows re-measured side by side after the column passes' changes (fast
  # twiddles, the skip term folded): ps per transformed point at L = 2.3M x 32, bf16 gated, on chip (K = 128) and
  # through HBM (K = 2048, paired); then filters of 384-1024 taps on chip against through HBM, forward.
  timeout 200 python3 - <<'PY' 2>&1 | tee "$OUT/hbmpts.txt"
import json, os, torch
from dnaconv.kernels.fftconv.monarch import _fftconv_fwd
from dnaconv.kernels.fftconv.monarch_hbm import hbm_fftconv_fwd
from dnaconv.kernels.fftconv.plan import hbm_plan
from dnaconv.pipelines.ab import bench, gated_inputs, point_costs
out, L, D = point_costs(), 2_300_000, 32
with torch.no_grad():
    for K in (384, 512, 640, 768, 1024):
        u, k, bias, pre, post, dy = gated_inputs(1, D, L, K, grad=False)
        p = hbm_plan(L, K)
        chip = lambda: _fftconv_fwd(u, k, bias, pre, post, None)
        hbm = lambda: hbm_fftconv_fwd(u, k, bias, pre, post, plan=p)
        print(f"K={K}: on chip {bench(chip):.3f} HBM N={p.n} {bench(hbm):.3f} on chip {bench(chip):.3f} HBM {bench(hbm):.3f}", flush=True)
        del u, k, bias, pre, post, dy
json.dump(out, open(os.path.join(os.environ.get("OUT", "/tmp"), "hbmpts.json"), "w"), indent=1)
PY
  exit 0
fi
if [ "${1:-}" = plancheck ]; then
  # The forward's block sizes that plan.POINT_PS's re-measured HBM row picks, against the ones it picked before,
  # interleaved (DNACONV_HBM_FFT forces a size; "chip": the on-chip kernel), L = 2.3M x 32, bf16 gated.
  timeout 150 python3 - <<'PY' 2>&1 | tee "$OUT/plancheck.txt"
import os, torch
from dnaconv.kernels.fftconv import fft_plan, fftconv
from dnaconv.kernels.fftconv.monarch import _fftconv_fwd
from dnaconv.pipelines.ab import bench, gated_inputs
with torch.no_grad():
    for K, sizes in ((512, ["chip", "8192", "16384"]), (4096, ["16384", "32768", "65536"]), (8192, ["32768", "65536"]),
                     (16384, ["65536", "131072"])):
        u, k, bias, pre, post, _ = gated_inputs(1, 32, 2_300_000, K, grad=False)
        line = [f"plan N={fft_plan(2_300_000, K).n}"]
        for n in sizes + sizes:
            if n == "chip":
                line.append(f"chip {bench(lambda: _fftconv_fwd(u, k, bias, pre, post, None)):.3f}")
            else:
                os.environ["DNACONV_HBM_FFT"] = n
                line.append(f"N={n} {bench(lambda: fftconv(u, k, bias, pre, post)):.3f}")
                del os.environ["DNACONV_HBM_FFT"]
        line.append(f"default {bench(lambda: fftconv(u, k, bias, pre, post)):.3f}")
        print(f"K={K}: " + " ".join(line), flush=True)
        del u, k, bias, pre, post
PY
  exit 0
fi
if [ "${1:-}" = hbmdk ]; then
  # The HBM backward with dk from its convolution's row pass (monarch_hbm_bwd._row_dk_kernel) against the one
  # before (dk a full-length torch.fft correlation: build/old_bwd.py, carried, from
  # git show 1c3a4f7:kernels/fftconv/monarch_hbm_bwd.py), the backward alone, interleaved, with their largest
  # relative difference; the dk pass's launch shape; fwd+bwd as fftconv dispatches (plan.backward_kind's choice)
  # against the HBM backward forced and torch.fft, at the shapes its rules were drawn from. GPU tests first.
  [ -z "${SKIP_TESTS:-}" ] && timeout 120 python3 -m pytest -q -rf --tb=short -p no:cacheprovider tests/kernels/test_fftconv_hbm.py -k backward 2>&1 | tail -4
  timeout 450 python3 - <<'PY' 2>&1 | tee "$OUT/hbmdk.txt"
import importlib.util, torch
from dnaconv.kernels.fftconv import fftconv, naive_fftconv
from dnaconv.kernels.fftconv.monarch_hbm import hbm_fftconv_fwd
from dnaconv.kernels.fftconv.monarch_hbm_bwd import hbm_fftconv_bwd
from dnaconv.kernels.fftconv.plan import backward_kind
from dnaconv.pipelines.ab import bench, gated_inputs, interleaved
spec = importlib.util.spec_from_file_location("old_bwd", "build/old_bwd.py")
old = importlib.util.module_from_spec(spec)
spec.loader.exec_module(old)
rel = lambda a, b: ((a.float() - b.float()).norm() / b.float().norm()).item()
SEGS, PTS, WARPS = "DNACONV_HBM_DK_SEGS", "DNACONV_HBM_DK_POINTS", "DNACONV_HBM_DK_WARPS"
CASES = [((1, 32, 2_300_000, 4096), [(SEGS, ["4", "16", "32"]), (PTS, ["1024", "4096"]), (WARPS, ["4", "8"])]),
         ((1, 32, 2_300_000, 8192), [(SEGS, ["4", "16"])]), ((1, 32, 2_300_000, 16384), [(SEGS, ["4", "16"])]),
         ((2, 32, 1 << 20, 2048), []), ((1, 64, 1 << 20, 65536), [(WARPS, ["4", "16"])]), ((1, 128, 73727, 8192), [(SEGS, ["1", "2"])]),
         ((1, 32, 2_300_000, 1536), None), ((1, 32, 2_300_000, 2048), None), ((2, 32, 1 << 20, 1536), None),
         ((1, 256, 73727, 8192), None), ((1, 512, 73727, 8192), None), ((8, 128, 16384, 4096), None),
         ((16, 128, 8192, 8192), None), ((16, 128, 32768, 8192), None)]
def safe(env, values, fn, label):
    out = []
    for v in values:
        try:
            out += interleaved(env, [v], fn, label)
        except Exception as e:
            out.append(f"{label}{v} fail({type(e).__name__})")
    return out
for (B, D, L, K), sweep in CASES:
  try:
    u, k, bias, pre, post, dy = gated_inputs(B, D, L, K)
    line = []
    if sweep is not None:
        args = [x.detach() for x in (u, k, bias, pre, post)]
        z = torch.empty_like(u)
        with torch.no_grad():
            hbm_fftconv_fwd(*args, z=z)
            errs = [rel(a, b) for a, b in zip(hbm_fftconv_bwd(dy, *args, None, z), old.hbm_fftconv_bwd(dy, *args, None, z))]
            new = lambda: hbm_fftconv_bwd(dy, *args, None, z)
            was = lambda: old.hbm_fftconv_bwd(dy, *args, None, z)
            line.append(f"bwd new {bench(new):.3f} old {bench(was):.3f} new {bench(new):.3f} old {bench(was):.3f}"
                        f" (diff du {errs[0]:.1e} dk {errs[1]:.1e} dpost {errs[4]:.1e})")
            for env, values in sweep:
                line += safe(env, values, new, env[12:].lower() + "=")
        del args, z
    step = lambda: fftconv(u, k, bias, pre, post).backward(dy)
    line.append(f"| fwd+bwd torch {bench(lambda: naive_fftconv(u, k, bias, pre, post).backward(dy)):.3f}")
    line += interleaved("DNACONV_HBM_BWD", ["", "1", "", "1"], step, "hbm=")
    print(f"{B}x{D}x{L} ({B * D * L / 2**20:.0f}M) K={K} default={backward_kind(L, K, 0, 1.0, B * D * L)}: " + " ".join(line), flush=True)
    del u, k, bias, pre, post, dy
  except Exception as e:
    print(f"{B}x{D}x{L} K={K}: fail {type(e).__name__}: {str(e)[:200]}", flush=True)
    torch.cuda.empty_cache()
PY
  exit 0
fi
if [ "${1:-}" = bwdplan ]; then
  # Where the HBM backward (4 warps in its dk pass) could take over: fwd+bwd as dispatched (the fused on-chip
  # backward) against DNACONV_HBM_BWD=1 and torch.fft, interleaved; then its block size (the backward alone,
  # DNACONV_HBM_FFT, z from the forward) at L = 2.3M x 32 channels.
  timeout 400 python3 - <<'PY' 2>&1 | tee "$OUT/bwdplan.txt"
import torch
from dnaconv.kernels.fftconv.monarch_hbm import hbm_fftconv_fwd
from dnaconv.kernels.fftconv.monarch_hbm_bwd import hbm_fftconv_bwd
from dnaconv.kernels.fftconv.plan import backward_kind
from dnaconv.pipelines.ab import fwd_bwd_knob, gated_inputs, interleaved
for B, D, L, K in ((1, 32, 2_300_000, 128), (1, 32, 2_300_000, 512), (1, 32, 2_300_000, 1024), (4, 32, 1 << 19, 1024),
                   (32, 256, 8192, 128), (32, 256, 8192, 1024), (8, 128, 16384, 4096), (1, 128, 73727, 8192),
                   (1, 64, 1 << 20, 65536), (1, 32, 2_300_000, 4096)):
    try:
        line = fwd_bwd_knob((B, D, L, K), "DNACONV_HBM_BWD", ["", "1", "", "1"], "hbm=")
        print(f"fwd+bwd {B}x{D}x{L} ({B * D * L / 2**20:.0f}M) K={K} default={backward_kind(L, K, 0, 1.0, B * D * L)}: " + line, flush=True)
    except Exception as e:
        print(f"{B}x{D}x{L} K={K}: fail {type(e).__name__}: {str(e)[:200]}", flush=True)
for K, sizes in ((2048, ["8192", "16384", "32768"]), (4096, ["16384", "32768", "65536"]),
                 (8192, ["32768", "65536", "131072"]), (16384, ["65536", "131072"])):
    u, k, bias, pre, post, dy = gated_inputs(1, 32, 2_300_000, K)
    args = [x.detach() for x in (u, k, bias, pre, post)]
    z = torch.empty_like(u)
    with torch.no_grad():
        hbm_fftconv_fwd(*args, z=z)
        fn = lambda: hbm_fftconv_bwd(dy, *args, None, z)
        print(f"bwd alone 2.3M x 32 K={K}: " + " ".join(interleaved("DNACONV_HBM_FFT", sizes + sizes, fn, "n=")), flush=True)
    del u, k, bias, pre, post, dy, args, z
PY
  exit 0
fi
if [ "${1:-}" = bwdprof ]; then
  # Where the HBM backward's time goes: torch.profiler over fwd+bwd (DNACONV_HBM_BWD=1), GPU time per kernel
  # against the wall time per step, at a small size where it lost to the fused backward and at a large one.
  DNACONV_HBM_BWD=1 timeout 150 python3 - <<'PY' 2>&1 | tee "$OUT/bwdprof.txt"
import time, torch
from torch.profiler import ProfilerActivity, profile
from dnaconv.kernels.fftconv import fftconv
from dnaconv.pipelines.ab import bench, gated_inputs
for B, D, L, K in ((1, 8, 2_300_000, 1024), (1, 32, 2_300_000, 4096)):
    u, k, bias, pre, post, dy = gated_inputs(B, D, L, K)
    step = lambda: fftconv(u, k, bias, pre, post).backward(dy)
    print(f"== {B}x{D}x{L} K={K}: fwd+bwd {bench(step):.3f} ms", flush=True)
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for _ in range(5):
            step()
        torch.cuda.synchronize()
    print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=22, max_name_column_width=60), flush=True)
    del u, k, bias, pre, post, dy
PY
  exit 0
fi
if [ "${1:-}" = hostprof ]; then
  # Host time of fwd+bwd with the HBM backward (its wall time exceeds its kernels' GPU time by ~1 ms): the
  # torch.profiler ops by CPU time, and the wall time of the filter's spectrum and of one Triton launch.
  DNACONV_HBM_BWD=1 timeout 120 python3 - <<'PY' > "$OUT/hostprof.txt" 2>&1
import torch
from dnaconv.kernels.fftconv import fftconv
from dnaconv.kernels.fftconv.monarch import monarch_spectrum
from dnaconv.kernels.fftconv.plan import hbm_plan
from dnaconv.pipelines.ab import bench, gated_inputs, profile_tables, wall
u, k, bias, pre, post, dy = gated_inputs(1, 32, 2_300_000, 4096)
step = lambda: fftconv(u, k, bias, pre, post).backward(dy)
print(f"fwd+bwd bench {bench(step):.3f} ms, wall {wall(step, 20):.3f} ms", flush=True)
p = hbm_plan(2_300_000, 4096, kind="hbm_bwd")
print(f"monarch_spectrum wall {wall(lambda: monarch_spectrum(k.detach(), p)):.3f} ms; rfft alone "
      f"{wall(lambda: torch.fft.rfft(k.detach(), n=p.n)):.3f} ms", flush=True)
profile_tables(step)
PY
  grep -E "ms,|wall" "$OUT/hostprof.txt"
  exit 0
fi
if [ "${1:-}" = lengths ]; then
  # Crossovers with torch.fft per sequence length at B*D*L = 2^26 (32 channels): bf16 fwd+bwd with the split
  # backward at N = 4096 (DNACONV_MONARCH_SPLIT=1 vs =0, the reference backward); fp32 forward and fwd+bwd,
  # the kernels (forced through monarch_fftconv) against torch.fft.
  timeout 300 python3 - <<'PY' 2>&1 | tee "$OUT/lengths.txt"
import os, torch, triton
from dnaconv.kernels.fftconv import fftconv, naive_fftconv
from dnaconv.kernels.fftconv.monarch import monarch_fftconv
bench = lambda fn: triton.testing.do_bench(fn, return_mode="median")
def inputs(L, K, dtype):
    torch.manual_seed(0)
    B, D = max(1, (1 << 26) // (32 * L)), 32  # 2026-11-29's first run took 256 channels at L <= 8192
    u, pre, post = (torch.randn(B, D, L, device="cuda", dtype=dtype, requires_grad=True) for _ in range(3))
    k = (torch.randn(D, K, device="cuda") / K**0.5).requires_grad_()
    return u, k, torch.randn(D, device="cuda", requires_grad=True), pre, post, torch.randn_like(u)
for K, Ls in ((2048, (4096, 8192, 16384, 32768, 131072, 262144, 524288, 1 << 20, 2_300_000)),
              (1792, (32768, 131072, 1 << 20)), (1536, (4096, 8192, 16384, 24576, 32768, 131072, 2_300_000))):
    for L in Ls:
        u, k, bias, pre, post, dy = inputs(L, K, torch.bfloat16)
        line = []
        for split in ("1", "0", "1", "0"):
            os.environ["DNACONV_MONARCH_SPLIT"] = split
            line.append(f"split{split} {bench(lambda: fftconv(u, k, bias, pre, post).backward(dy)):.3f}")
        del os.environ["DNACONV_MONARCH_SPLIT"]
        print(f"bf16 fwd+bwd K={K} L={L}: " + " ".join(line), flush=True)
for K in (128, 256, 512, 1024):
    for L in (8192, 65536, 262144, 1 << 20):
        u, k, bias, pre, post, dy = inputs(L, K, torch.float32)
        line = []
        for impl, fn in (("torch", naive_fftconv), ("triton", monarch_fftconv)):
            with torch.no_grad():
                fwd = bench(lambda: fn(u, k, bias, pre, post))
            both = bench(lambda: fn(u, k, bias, pre, post).backward(dy)) if K <= 256 else float("nan")
            line.append(f"{impl} {fwd:.3f} / {both:.3f}")
        print(f"fp32 K={K} L={L} (fwd / fwd+bwd ms): " + " | ".join(line), flush=True)
PY
  exit 0
fi
if [ "${1:-}" = fp32 ]; then
  # The fp32 (3xtf32) kernels against torch.fft in fp32, forward and fwd+bwd, with the error: fftconv runs
  # torch.fft for fp32 (the first kernels' 3xtf32 path ran 0.4x-1.7x); this says whether that still holds.
  timeout 300 python3 - <<'PY' 2>&1 | tee "$OUT/fp32.txt"
import torch, triton
from dnaconv.kernels.fftconv import naive_fftconv
from dnaconv.kernels.fftconv.monarch import monarch_fftconv
bench = lambda fn: triton.testing.do_bench(fn, return_mode="median")
for name, (B, D, L, K) in (("K=128", (1, 32, 2_300_000, 128)), ("K=512", (1, 32, 2_300_000, 512)),
                           ("K=1024", (1, 32, 2_300_000, 1024)), ("K=2048", (1, 32, 2_300_000, 2048)),
                           ("full 1K", (64, 1024, 1024, 1024)), ("full 2K", (32, 1024, 2048, 2048))):
    torch.manual_seed(0)
    u, pre, post = (torch.randn(B, D, L, device="cuda", requires_grad=True) for _ in range(3))
    k = (torch.randn(D, K, device="cuda") / K**0.5).requires_grad_()
    bias = torch.randn(D, device="cuda", requires_grad=True)
    dy = torch.randn_like(u)
    with torch.no_grad():
        y, r = monarch_fftconv(u, k, bias, pre, post), naive_fftconv(u, k, bias, pre, post)
    err = ((y - r).norm() / r.norm()).item()
    line = []
    for impl, fn in (("torch", naive_fftconv), ("triton", monarch_fftconv)):
        with torch.no_grad():
            fwd = bench(lambda: fn(u, k, bias, pre, post))
        both = bench(lambda: fn(u, k, bias, pre, post).backward(dy))
        line.append(f"{impl} {fwd:.3f} / {both:.3f}")
    print(f"fp32 {name} (fwd / fwd+bwd ms): " + " | ".join(line) + f" | err {err:.1e}", flush=True)
    del u, pre, post, k, bias, dy, y, r
PY
  exit 0
fi
if [ "${1:-}" = pack ]; then
  # DNACONV_MONARCH_ACROSS=pack against the default at training-like shapes (windows of 8192, 32 x 256
  # channels, bf16 gated), where each sequence's last program is part empty; interleaved twice, with torch.fft.
  timeout 300 python3 - <<'PY' 2>&1 | tee "$OUT/pack.txt"
import os, torch, triton
from dnaconv.kernels.fftconv import fftconv, naive_fftconv
bench = lambda fn: triton.testing.do_bench(fn, return_mode="median")
for K in (128, 256, 1024):
    torch.manual_seed(0)
    u, pre, post = (torch.randn(32, 256, 8192, device="cuda", dtype=torch.bfloat16, requires_grad=True) for _ in range(3))
    k = (torch.randn(256, K, device="cuda") / K**0.5).requires_grad_()
    bias = torch.randn(256, device="cuda", requires_grad=True)
    dy = torch.randn_like(u)
    for grad in (False, True):
        step = (lambda f: lambda: f(u, k, bias, pre, post).backward(dy)) if grad else (lambda f: lambda: f(u, k, bias, pre, post))
        line = [f"torch {bench(step(naive_fftconv)):.3f}"]
        for mode in ("1", "pack", "1", "pack"):
            os.environ["DNACONV_MONARCH_ACROSS"] = mode
            line.append(f"{mode} {bench(step(fftconv)):.3f}")
        os.environ.pop("DNACONV_MONARCH_ACROSS")
        print(f"L=8192 K={K}{' fwd+bwd' if grad else ''}: " + " ".join(line), flush=True)
PY
  exit 0
fi
if [ "${1:-}" = isolate ]; then
  # Sequences of one block, each configuration in a process of its own (a crash costs only its line): one
  # "ENV=VAL,ENV=VAL ..." per configuration, bf16 gated, B*D*L = 2^26; error and time.
  cat > /tmp/iso.py <<'PY'
import sys, torch, triton
from dnaconv.kernels.fftconv import fftconv, naive_fftconv
B, D, L = map(int, sys.argv[1:4])
torch.manual_seed(0)
u, pre, post = (torch.randn(B, D, L, device="cuda", dtype=torch.bfloat16) for _ in range(3))
k, bias = torch.randn(D, L, device="cuda") / L**0.5, torch.randn(D, device="cuda")
ref = naive_fftconv(u, k, bias, pre, post).float()
y = fftconv(u, k, bias, pre, post).float()
err = ((y - ref).norm() / ref.norm()).item()
t = triton.testing.do_bench(lambda: fftconv(u, k, bias, pre, post), return_mode="median")
tt = triton.testing.do_bench(lambda: naive_fftconv(u, k, bias, pre, post), return_mode="median") if sys.argv[4] == "torch" else 0
print(f"L={L} {sys.argv[4]}: {t:.3f} ms err {err:.1e}" + (f" (torch {tt:.3f})" if tt else ""), flush=True)
PY
  for shape in "32 1024 2048" "64 1024 1024" "128 1024 512"; do
    for cfg in ${CONFIGS:-"torch"}; do
      env $(echo "$cfg" | tr ',' ' ' | sed 's/^torch//') timeout 90 python3 /tmp/iso.py $shape "$cfg" 2>&1 | tail -1 | tee -a "$OUT/isolate.txt"
    done
  done
  exit 0
fi
if [ "${1:-}" = knobs ]; then
  cat > /tmp/knobs.py <<'PY'
import os, sys, torch, triton
from dnaconv.kernels.fftconv import fftconv, naive_fftconv
CASES = (("K=128", 1, 32, 2_300_000, 128, 1), ("K=256", 1, 32, 2_300_000, 256, 1), ("K=512", 1, 32, 2_300_000, 512, 1),
         ("K=1024", 1, 32, 2_300_000, 1024, 1), ("K=1024 f=1/2", 1, 32, 2_300_000, 1024, 0.5),
         ("K=1024 f=1/4", 1, 32, 2_300_000, 1024, 0.25), ("K=2048", 1, 32, 2_300_000, 2048, 1),
         ("full 512", 128, 1024, 512, 512, 1), ("full 1K", 64, 1024, 1024, 1024, 1), ("full 2K", 32, 1024, 2048, 2048, 1), ("K=4096", 1, 32, 2_300_000, 4096, 1),
         ("K=8192", 1, 32, 2_300_000, 8192, 1), ("K=16K", 1, 32, 2_300_000, 16384, 1), ("K=16K f=1/4", 1, 32, 2_300_000, 16384, 0.25),
         ("stream K=8192", 1, 128, 73727, 8192, 1))
line = []
for name, B, D, L, K, f in CASES:
    for grad in ((False, True) if name in ("K=128", "K=256", "K=512", "K=1024", "full 512", "full 1K") else (False,)):
        torch.manual_seed(0)
        u, pre, post = (torch.randn(B, D, L, device="cuda", dtype=torch.bfloat16, requires_grad=grad) for _ in range(3))
        k = (torch.randn(D, K, device="cuda") / K**0.5).requires_grad_(grad)
        bias = torch.randn(D, device="cuda", requires_grad=grad)
        dy = torch.randn_like(u)
        ms = {}
        for impl, fn in (("triton", lambda *a: fftconv(*a, freq_fraction=f)), ("torch", naive_fftconv)):
            if impl == "torch" and "torch" not in sys.argv[1]:
                continue
            step = (lambda: fn(u, k, bias, pre, post).backward(dy)) if grad else (lambda: fn(u, k, bias, pre, post))
            ms[impl] = triton.testing.do_bench(step, return_mode="median")
        err = 0.0
        if f == 1:
            with torch.no_grad():
                y = fftconv(u, k, bias, pre, post).float()
                r = naive_fftconv(u.detach(), k.detach(), bias.detach(), pre.detach(), post.detach()).float()
            err = ((y - r).norm() / r.norm()).item()
        tag = name + (" fwd+bwd" if grad else "")
        line.append(f"{tag}: {ms['triton']:.3f}" + (f" (torch {ms['torch']:.3f})" if "torch" in ms else "") + ("" if err < 1e-2 else f" ERR {err:.1e}"))
print(f"{sys.argv[1]:>16} | " + " | ".join(line), flush=True)
PY
  timeout 150 python3 /tmp/knobs.py default+torch 2>&1 | tee -a "$OUT/knobs.txt"
  [ -n "${SKIP_HOLD0:-}" ] || DNACONV_MONARCH_HOLD=0 timeout 150 python3 /tmp/knobs.py hold0 2>&1 | tee -a "$OUT/knobs.txt"
  cp "$2"/*.py kernels/fftconv/
  timeout 150 python3 /tmp/knobs.py base 2>&1 | tee -a "$OUT/knobs.txt"
  exit 0
fi
if [ "${1:-}" = ab ]; then
  timeout 200 python3 -m pytest -q -rf --tb=short -p no:cacheprovider tests/kernels tests/test_streaming.py > "$OUT/tests.txt" 2>&1
  tail -3 "$OUT/tests.txt"
  cases="--case partial:1:32:2300000:128 --case partial:1:32:2300000:256 --case partial:1:32:2300000:512
    --case partial:1:32:2300000:1024 --case partial:1:32:2300000:2048 --case full:64:1024:1024:1024
    --case full:32:1024:2048:2048 --case full:16:1024:4096:4096 --case partial:1:32:2300000:4096
    --case partial:1:32:2300000:16384 --case partial:1:128:73727:8192"
  mkdir -p /tmp/new && cp kernels/fftconv/*.py /tmp/new/
  for side in new base new2; do
    case $side in new|new2) cp /tmp/new/*.py kernels/fftconv/ ;; base) cp "$2"/*.py kernels/fftconv/ ;; esac
    extra=""; [ $side = new2 ] && extra="--fraction 0.5 --fraction 0.25"
    echo "== $side"
    # shellcheck disable=SC2086
    timeout 200 dnaconv bench fftconv --dtype bfloat16 --json "$OUT/ab_$side.json" $cases $extra 2>&1 | tee "$OUT/ab_$side.txt"
  done
  exit 0
fi
if [ "${1:-}" = hbmbwd ]; then
  [ -n "${SKIP_TESTS:-}" ] || timeout 200 python3 -m pytest -q -rf --tb=short -p no:cacheprovider tests/kernels/test_fftconv_hbm.py 2>&1 | tail -2
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
