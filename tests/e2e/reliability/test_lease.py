"""The writer lease of an s3a:// lakehouse (reclake/io/lease.py) against DynamoDB's API from a real moto server,
held by real processes: refused while live, taken over once a killed holder's lease expires, lost by a holder
that stalled past its expiry, and held by one job at a time when many race for it."""

from __future__ import annotations

import os
import signal
import time

import pytest

from reclake.config import LakehouseSection
from reclake.errors import LakehouseBusy
from reclake.io.lock import writer_lock
from tests.e2e.conftest import S3_BUCKET
from tests.helpers import HOLD_WRITER_LOCK, python

EXPIRY_S = 2.0


@pytest.fixture(scope="module")
def aws(s3):
    """The AWS environment of the session's moto server, set for this process and the holders it starts."""
    with pytest.MonkeyPatch.context() as mp:
        for key, value in s3.items():
            mp.setenv(key, value)
        yield s3


def hold(root: str, run_id: str, hold_s: float) -> tuple:
    """A holder process that has the lease: (process, the time it got it)."""
    holder = python(HOLD_WRITER_LOCK, root, run_id, str(hold_s), str(EXPIRY_S))
    assert holder.stdout is not None
    line = holder.stdout.readline()
    assert line.startswith("held "), holder.communicate()[1][-3000:]
    return holder, float(line.split()[1])


def test_a_live_holder_refuses_naming_itself_and_a_killed_ones_lease_is_taken_over_once_expired(aws, caplog):
    lakehouse = LakehouseSection(root=f"s3a://{S3_BUCKET}/lease-killed", lease_expiry_s=EXPIRY_S)
    holder, _ = hold(lakehouse.root, "holder-run", 60)
    busy = rf"reclake run \(run holder-run, pid {holder.pid} on .*, lease until .*\) is writing to {lakehouse.root}"
    with pytest.raises(LakehouseBusy, match=busy), writer_lock(lakehouse, "second", "reclake publish", 0):
        pass
    os.killpg(holder.pid, signal.SIGKILL)
    holder.wait()
    killed = time.monotonic()
    with pytest.raises(LakehouseBusy, match="holder-run"), writer_lock(lakehouse, "early", "reclake run", 0):
        pass  # a dead holder's lease still runs to its end: nothing tells DynamoDB it died
    with writer_lock(lakehouse, "next-run", "reclake run", 10) as still_held:
        waited = time.monotonic() - killed
        still_held()
    assert waited <= EXPIRY_S + 1.5, f"took {waited:.1f} s to take over a lease that expires after {EXPIRY_S} s"
    assert f"took over an expired writer lease of {lakehouse.root}: reclake run (run holder-run" in caplog.text
    with writer_lock(lakehouse, "after", "reclake run", 0):
        pass  # released: free at once


def test_a_stalled_holder_loses_its_lease_to_the_next_job_and_stops_before_its_next_stage(aws):
    lakehouse = LakehouseSection(root=f"s3a://{S3_BUCKET}/lease-stalled", lease_expiry_s=EXPIRY_S)
    holder, _ = hold(lakehouse.root, "stalled-run", 60)
    os.killpg(holder.pid, signal.SIGSTOP)  # frozen: it renews nothing
    try:
        with writer_lock(lakehouse, "next-run", "reclake run", 10) as still_held:
            os.killpg(holder.pid, signal.SIGCONT)
            _, err = holder.communicate(timeout=30)
            still_held()  # the lease stayed the new holder's
            with pytest.raises(LakehouseBusy, match="run next-run"), writer_lock(lakehouse, "third", "reclake run", 0):
                pass
    finally:
        if holder.poll() is None:
            os.killpg(holder.pid, signal.SIGKILL)
    assert holder.returncode != 0
    assert f"WriterLeaseLost: the writer lease of {lakehouse.root} expired and reclake run (run next-run" in err


def test_many_jobs_racing_for_the_lease_hold_it_one_at_a_time(aws):
    root = f"s3a://{S3_BUCKET}/lease-raced"
    holders = [python(HOLD_WRITER_LOCK, root, f"racer-{n}", "0.3", "30") for n in range(6)]
    spans = []
    for holder in holders:
        out, err = holder.communicate(timeout=120)
        assert holder.returncode == 0, err[-3000:]
        [held, released] = [float(line.split()[1]) for line in out.splitlines()]
        spans.append((held, released))
    spans.sort()
    overlaps = [(a, b) for a, b in zip(spans, spans[1:], strict=False) if b[0] < a[1]]
    assert not overlaps, overlaps
