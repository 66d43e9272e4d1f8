"""The lakehouse's writer lock: one job writes to a lakehouse at a time.

Delta's optimistic concurrency keeps every single commit atomic, but a run is
many commits across tables (the id tables are blind appends Delta never
conflicts on, ``interactions`` and ``staging/*`` are whole-table overwrites), so
two runs at once could interleave them: duplicate ids, one date's staged rows
published for another. Every job therefore holds this lock while it writes
(``docs/reliability.md``). It is an ``flock`` on ``<lakehouse>/_locks/writer.lock``:
the kernel releases it when the holder dies, SIGKILL included, so the next run
takes it over at once. The holder's run id, job, pid, host and start time are
written into the file so a refused run can say who holds it. A remote
lakehouse (s3a://, gs://, ...) has no such lock: run one scheduler per lakehouse.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from reclake.errors import LakehouseBusy
from reclake.uris import local_folder

log = logging.getLogger(__name__)
LOCK_FILE = "_locks/writer.lock"
_POLL_S = 0.2


def _holder(handle: Any) -> str:
    handle.seek(0)
    try:
        held = json.loads(handle.read() or "{}")
    except ValueError:
        return "another job"
    return (
        f"{held.get('job')} (run {held.get('run_id')}, pid {held.get('pid')} on {held.get('host')}, "
        f"since {held.get('since')})"
    )


@contextmanager
def writer_lock(lakehouse_root: str, run_id: str, job: str, wait_s: float) -> Iterator[None]:
    """Hold the lakehouse's writer lock for the block, waiting up to ``wait_s`` seconds for it.

    Raises :class:`LakehouseBusy`, naming the holder, when it is still held after that.
    """
    folder = local_folder(lakehouse_root)
    if folder is None:
        yield
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
        holder = {
            "job": job,
            "run_id": run_id,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(holder))
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
