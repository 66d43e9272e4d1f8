#!/usr/bin/env bash
# Builds the artefacts of a release into OUT_DIR (default: dist) and prints the zip's path:
#   reclake-<version>-py3-none-any.whl   what `pip install` takes (the suites included as package data)
#   reclake-<version>.zip                the same wheel under the name spark-submit --py-files accepts
#                                        (Spark puts only .zip, .egg and .jar files on the executors' path)
# The wheel is built with fixed timestamps (SOURCE_DATE_EPOCH), so the same source gives the same
# bytes and a deployment can compare checksums. Usage: scripts/package.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out="$(mkdir -p "${1:-dist}" && cd "${1:-dist}" && pwd)"
python="${PYTHON:-.venv/bin/python}"
[ -x "$python" ] || python=python3
version=$("$python" -c 'import re,sys; print(re.search(r"^__version__ = \"([^\"]+)\"", open("reclake/__init__.py").read(), re.M)[1])')
build="$(mktemp -d)"
trap 'rm -rf "$build"' EXIT
# A copy of the tree without build leftovers, so an earlier build/ or egg-info never leaks in.
tar --exclude=.venv --exclude=.git --exclude=build --exclude=dist --exclude='*.egg-info' --exclude=__pycache__ \
    --exclude=lakehouse -cf - setup.py README.md reclake | tar -xf - -C "$build"
SOURCE_DATE_EPOCH=315532800 "$python" -m pip wheel --quiet --no-deps --no-build-isolation --wheel-dir "$build/dist" "$build" >&2
wheel="reclake-${version}-py3-none-any.whl"
cp "$build/dist/$wheel" "$out/$wheel.tmp" && mv "$out/$wheel.tmp" "$out/$wheel"
# Atomic: a running job never sees a half-written artefact.
cp "$out/$wheel" "$out/reclake-${version}.zip.tmp" && mv "$out/reclake-${version}.zip.tmp" "$out/reclake-${version}.zip"
echo "$out/reclake-${version}.zip"
