#!/usr/bin/env bash
# Fetches the wheels the device scripts carry (.whl/, git-ignored) for the H200 image (Python 3.12, which lacks
# pysam, datasets and its pure-Python dependencies dill and multiprocess; pytest-xdist and execnet run the GPU
# tests in parallel): bash pipelines/h200_wheels.sh [DIR]
set -euo pipefail
dir=${1:-.whl}
mkdir -p "$dir"
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --platform manylinux_2_28_x86_64 \
  --implementation cp -d "$dir" pysam==0.24.1 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19 \
  pytest-xdist==3.8.0 execnet==2.1.2
ls "$dir"
