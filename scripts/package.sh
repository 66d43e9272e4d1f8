#!/usr/bin/env bash
# Builds dist/reclake-<version>.zip: the `jobs` package as spark-submit ships it to
# executors with --py-files, so jobs run on a cluster where reclake is not installed.
# The zip is reproducible (sorted entries, fixed timestamps, no __pycache__): the same
# source gives the same bytes, so a deployment can compare checksums.
# Usage: scripts/package.sh [OUT_DIR]   (default: dist); prints the artefact's path.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-dist}"
python="${PYTHON:-.venv/bin/python}"
[ -x "$python" ] || python=python3
"$python" - "$out" <<'PY'
import re
import sys
import zipfile
from pathlib import Path

out = Path(sys.argv[1])
version = re.search(r'^__version__ = "([^"]+)"', Path("jobs/__init__.py").read_text(), re.M)[1]
# The package, plus the expectation suites it reads from beside itself (jobs/expectations.py).
files = sorted(p for p in Path("jobs").rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")
files += sorted(Path("schemas/expectations").glob("*.json"))
out.mkdir(parents=True, exist_ok=True)
artefact = out / f"reclake-{version}.zip"
tmp = artefact.with_suffix(".zip.tmp")
with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
    for path in files:
        info = zipfile.ZipInfo(path.as_posix(), date_time=(1980, 1, 1, 0, 0, 0))
        info.external_attr = 0o644 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        zf.writestr(info, path.read_bytes())
tmp.replace(artefact)  # atomic: a running job never sees a half-written artefact
print(artefact.resolve())
PY
