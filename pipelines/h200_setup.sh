# Sourced by the pipelines/h200_*.sh scripts on the device machine: installs the carried wheels
# (.whl/, git-ignored, from pipelines/h200_wheels.sh: pysam, datasets, dill, multiprocess, pytest-xdist,
# execnet) into /tmp/site and dnaconv itself (editable), runs pytest on $DNACONV_TEST_WORKERS processes
# (default 8: compiling the kernels is what the GPU tests wait on) where xdist is there, and records the
# GPU in $OUT/gpu.txt.
OUT=${OUT:-/tmp/out}
export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site
python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . >/dev/null 2>&1
if python3 -c "import xdist" 2>/dev/null; then
  export PYTEST_ADDOPTS="-n ${DNACONV_TEST_WORKERS:-8} ${PYTEST_ADDOPTS:-}"
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
