# Sourced by the pipelines/h200_*.sh scripts on the device machine: installs the carried wheels
# (.whl/, git-ignored, from pipelines/h200_wheels.sh: pysam, datasets, dill, multiprocess, pytest-xdist,
# execnet) into /tmp/site and dnaconv itself (editable), runs pytest on $DNACONV_TEST_WORKERS processes
# where set (and xdist is there; on the H200, 2026-11-29, 8 processes got through 42% of the GPU tests in 240 s,
# where one process had run them all in 362 s; in the fourteenth session 8 processes ran all 126 tests of the
# on-chip kernel's and fftconv's files in 202 s, of which one process had got through 9-48 in a call's time,
# but only 59 of the 130 of PART=1s in 270 s), and records the GPU in $OUT/gpu.txt.
OUT=${OUT:-/tmp/out}
export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site
python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . >/dev/null 2>&1
if [ -n "${DNACONV_TEST_WORKERS:-}" ] && python3 -c "import xdist" 2>/dev/null; then
  export PYTEST_ADDOPTS="-n $DNACONV_TEST_WORKERS ${PYTEST_ADDOPTS:-}"
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
# the host's CPU (host-bound rows depend on it)
grep -m1 "model name" /proc/cpuinfo | tee -a "$OUT/gpu.txt"
