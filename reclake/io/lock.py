"""The lakehouse's writer lock: one job writes to a lakehouse at a time.

Delta's optimistic concurrency keeps every single commit atomic, but a run is
many commits across tables (the id tables are blind appends Delta never
conflicts on, ``interactions`` and ``staging/*`` are whole-table overwrites), so
two runs at once could interleave them: duplicate ids, one date's staged rows
published for another. Every job therefore holds this lock while it writes
(``docs/reliability.md``). It is an ``flock`` on ``<lakehouse>/_locks/writer.lock``:
the kernel releases it when the holder dies, SIGKILL included, so the next run
takes it over at once. The holder's run id, job, pid, host and start time are
written into the file so a refused run can say who holds it. An ``s3a://``
lakehouse has a writer lease in DynamoDB instead (reclake/io/lease.py); other
object stores (gs://, abfss://) have neither: run one scheduler per lakehouse there.
"""

from __future__ import annotations

import fcntl
import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from reclake.config import LakehouseSection
from reclake.errors import LakehouseBusy
from reclake.io.lease import describe_holder, holder_record, writer_lease
from reclake.objectstore import is_s3
from reclake.uris import local_folder

log = logging.getLogger(__name__)
LOCK_FILE = "_locks/writer.lock"
_POLL_S = 0.2


def _holder(handle: Any) -> str:
    handle.seek(0)
    try:
        return describe_holder(json.loads(handle.read() or "{}"))
    except ValueError:
        return "another job"


def _still_held() -> None:
    """A flock cannot be lost while its holder lives: nothing to check."""


@contextmanager
def writer_lock(lakehouse: LakehouseSection, run_id: str, job: str, wait_s: float) -> Iterator[Callable[[], None]]:
    """Hold the lakehouse's writer lock (or, on ``s3a://``, its lease) for the block, waiting up to ``wait_s``.

    Yields a check to call before each stage: it raises :class:`WriterLeaseLost` if a stalled holder's
    lease was taken over. Raises :class:`LakehouseBusy`, naming the holder, when it is still held after
    ``wait_s`` seconds.
    """
    lakehouse_root = lakehouse.root
    folder = local_folder(lakehouse_root)
    if folder is None:
        if not is_s3(lakehouse_root):
            yield _still_held
            return
        holder = holder_record(job, run_id)
        with writer_lease(lakehouse_root, holder, wait_s, lakehouse.lease_table, lakehouse.lease_expiry_s) as lease:
            yield lease.check
        return
    path = folder / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", encoding="utf-8") as handle:
        started = time.monotonic()
        deadline = started + wait_s
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LakehouseBusy(
                        f"{_holder(handle)} is writing to {lakehouse_root}; this run did not start "
                        f"(waited {wait_s:g} s, run.lock_wait_s): run it again once that one has finished"
                    ) from None
                time.sleep(_POLL_S)
        waited = time.monotonic() - started
        if waited >= _POLL_S:
            log.info("waited %.1f s for the writer lock of %s", waited, lakehouse_root)
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(holder_record(job, run_id)))
        handle.flush()
        try:
            yield _still_held
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
