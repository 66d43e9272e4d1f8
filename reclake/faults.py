"""Named fault-injection points: ``RECLAKE_FAULT=<stage>:<point>`` makes a job kill itself there.

The reliability tests (tests/e2e/reliability/) use them to crash a real run at the
places where a crash hurts most: between two writes of a stage, between writing
a commit's data files and committing it, between two published tables. A point
that is not named costs one dictionary lookup. The kill is SIGKILL to the whole
process group when this process leads it (``reclake run`` started in its own
session: the driver, the Spark JVM and its Python workers die at once, as on a
lost machine), else to this process and its Spark JVM.

``RECLAKE_FAULT_ONCE=<file>`` fails a run once, for a scheduler to retry: the job that reaches the point the
file names (``<stage>:<point>``) removes the file and kills itself there; the retry finds no file and runs
on. Only the plain points below (not ``publish:after_files``) honour it.

Points (``docs/reliability.md`` says what each leaves behind):

    ingest:mid_batch            a micro-batch's first file renamed into its date folder, the batch not committed
    validate:after_quarantine   quarantine committed, events not
    prepare:after_ids           daily_pairs and the id tables committed, interactions not
    train:mid_model_save        model files saved, registry row not written
    recommend:after_staged      staged recommendations committed, staged similar items not
    publish:after_files         a published table's data files written, its commit not
    publish:between_tables      similar_items committed, recommendations not
    publish:before_served       every published table committed, served_versions not
"""

from __future__ import annotations

import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyarrow.fs import FileInfo, FileSystem

FAULT_ENV = "RECLAKE_FAULT"
FAULT_ONCE_ENV = "RECLAKE_FAULT_ONCE"


def armed(stage: str, point: str) -> bool:
    """True when ``RECLAKE_FAULT`` names this point."""
    return os.environ.get(FAULT_ENV) == f"{stage}:{point}"


def kill_run(jvm_pid: int | None = None) -> None:
    """SIGKILL this run: its process group when it leads one, else this process and ``jvm_pid``."""
    if os.getpgrp() == os.getpid():
        os.killpg(os.getpgrp(), signal.SIGKILL)
    if jvm_pid is not None:
        os.kill(jvm_pid, signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)


def armed_once(stage: str, point: str) -> bool:
    """True, once, when the file ``RECLAKE_FAULT_ONCE`` names holds this point: removing it disarms it, and of
    jobs racing for it only the one whose removal succeeds fails."""
    marker = os.environ.get(FAULT_ONCE_ENV)
    if not marker:
        return False
    try:
        if Path(marker).read_text().strip() != f"{stage}:{point}":
            return False
        os.unlink(marker)
    except OSError:  # no file (not armed, or already taken)
        return False
    return True


def fault_point(stage: str, point: str) -> None:
    """Kill the run here if ``RECLAKE_FAULT`` names ``<stage>:<point>``, or ``RECLAKE_FAULT_ONCE``'s file does."""
    if armed(stage, point) or armed_once(stage, point):
        kill_run(jvm_process_id())


def jvm_process_id() -> int | None:
    """The pid of the Spark JVM this process started, if any (no pyspark import when there is none)."""
    context = getattr(sys.modules.get("pyspark"), "SparkContext", None)
    gateway = getattr(context, "_gateway", None)
    process = getattr(gateway, "proc", None)
    return getattr(process, "pid", None)


PARQUET_MAGIC = b"PAR1"
_COMMIT_FILE = re.compile(r"^\d{20}\.json$")


class _TableFiles:
    """A Delta table's files as pyarrow's file system lists them: a local folder or an S3 prefix alike."""

    def __init__(self, store: FileSystem, path: str) -> None:
        self.store, self.path = store, path

    def _listed(self) -> list[FileInfo]:
        from pyarrow.fs import FileSelector  # only an armed point lists files

        return self.store.get_file_info(FileSelector(self.path, allow_not_found=True, recursive=True))

    def data_files(self) -> set[str]:
        """The table's Parquet data files (not the checkpoints in its log)."""
        return {f.path for f in self._listed() if f.path.endswith(".parquet") and "/_delta_log/" not in f.path}

    def commits(self) -> int:
        return sum(1 for f in self._listed() if "/_delta_log/" in f.path and _COMMIT_FILE.match(f.base_name))

    def complete(self, path: str) -> bool:
        """True once a Parquet file has its footer: the writer has closed it (on S3 an object is whole or absent)."""
        try:
            with self.store.open_input_file(path) as handle:
                size = handle.size()
                return size >= 8 and handle.read_at(4, 0) == PARQUET_MAGIC == handle.read_at(4, size - 4)
        except OSError:  # not there yet
            return False


@contextmanager
def kill_between_files_and_commit(
    stage: str, point: str, table: Callable[[], tuple[FileSystem, str]], files: int
) -> Iterator[None]:
    """Kill the run once the Delta write in this block has written ``files`` data files and not committed.

    delta-spark writes a commit's data files (task by task, at their final names)
    and then, in the same call, writes the commit to ``_delta_log``; a thread
    watches the table (``table()`` gives pyarrow's file system and the table's path in
    it: a local folder or an S3 prefix) for the new complete Parquet files, freezes the JVM
    (SIGSTOP, so what is checked is what the kill leaves), checks that no commit was
    added and kills the run. Unarmed, it does nothing.
    """
    if not armed(stage, point):
        yield
        return
    listing = _TableFiles(*table())
    before = listing.data_files()
    commits = listing.commits()
    jvm = jvm_process_id()
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            new = listing.data_files() - before
            if len(new) >= files and all(map(listing.complete, new)):
                if jvm is not None:
                    os.kill(jvm, signal.SIGSTOP)
                if listing.commits() == commits:
                    kill_run(jvm)
                if jvm is not None:  # the commit won the race: let the run go on (a test sees it finish)
                    os.kill(jvm, signal.SIGCONT)
                return
            time.sleep(0.002)

    watcher = threading.Thread(target=watch, name=f"fault {stage}:{point}", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()
