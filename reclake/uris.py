"""Paths and URIs: local folders and object-store URIs (s3a://, gs://, abfss://) spelled one way.

A leaf: it imports nothing of reclake's, so the config, the table catalogue, the
Spark-free readers and the DAG file can all use it.
"""

from __future__ import annotations

import re
from pathlib import Path

# In input.path, stands for the run date (YYYY-MM-DD): each run then validates that date's batch only.
RUN_DATE_PLACEHOLDER = "{run_date}"
# What Hadoop's path globbing reads as a pattern (Spark's readers glob every path they are given).
GLOB_CHARACTERS = frozenset("\\{}[]*?")


def path_segment(text: str) -> str:
    """``text`` (a run id) as one file or folder name every file system and Hadoop accept.

    Airflow's run ids hold ``:`` and ``+`` (``manual__2026-12-03T04:47:32.954750+00:00``);
    Hadoop reads a name with ``:`` as a URI and refuses it. Anything but letters, digits,
    ``.``, ``_`` and ``-`` becomes ``-``.
    """
    return re.sub(r"[^A-Za-z0-9._-]", "-", text)


def is_uri(path: str) -> bool:
    """True for anything with a scheme (``s3a://``, ``gs://``, ``file:``); False for a plain local path."""
    return "://" in path or path.startswith("file:")


def local_folder(uri: str) -> Path | None:
    """The local folder a path or ``file:`` URI names; None for an object-store URI (s3a://, gs://, ...)."""
    if is_uri(uri) and not uri.startswith("file:"):
        return None
    return Path(uri.removeprefix("file:"))


def join_uri(root: str, *parts: str) -> str:
    """Join path parts onto a local folder or an object-store URI (s3a://, gs://, abfss://)."""
    return "/".join([root.rstrip("/"), *(p.strip("/") for p in parts)])


def no_glob(path: str) -> str:
    """``path`` with Hadoop's glob characters escaped, so Spark reads the file of that name, not a pattern."""
    return "".join("\\" + c if c in GLOB_CHARACTERS else c for c in path)


def delta_rs_uri(uri: str) -> str:
    """Spark's Hadoop URIs as delta-rs spells them (``s3a://`` is ``s3://`` there)."""
    return "s3://" + uri.removeprefix("s3a://") if uri.startswith("s3a://") else uri
