# Sourced by the pipelines/h200_*.sh scripts on the device machine: installs the carried wheels
# (.whl/, git-ignored: pysam, datasets, dill, multiprocess) into /tmp/site and dnaconv itself (editable),
# and records the GPU in $OUT/gpu.txt.
OUT=${OUT:-/tmp/out}
export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site
python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . >/dev/null 2>&1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
