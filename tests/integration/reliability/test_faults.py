"""The fault-injection points and the writer lock themselves, on real processes (no Spark: each under 1 s)."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from reclake.config import LakehouseSection
from reclake.faults import FAULT_ENV, FAULT_ONCE_ENV, fault_point
from reclake.io.lock import LOCK_FILE, LakehouseBusy, writer_lock
from tests.helpers import HOLD_WRITER_LOCK, python


def test_an_armed_point_kills_the_whole_process_group_and_an_unarmed_one_does_nothing(monkeypatch):
    monkeypatch.delenv(FAULT_ENV, raising=False)
    fault_point("publish", "after_files")  # not armed: returns
    code = (
        "import subprocess, sys\n"
        "from reclake.faults import fault_point\n"
        "child = subprocess.Popen(['sleep', '30'])\n"  # stands in for the Spark JVM and Python workers
        "print(child.pid, flush=True)\n"
        "fault_point('train', 'other_point')\n"
        "fault_point('train', 'mid_model_save')\n"
        "print('survived', flush=True)\n"
    )
    proc = python(code, env={FAULT_ENV: "train:mid_model_save"})
    out, _ = proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGKILL and "survived" not in out
    child = int(out.split()[0])
    time.sleep(0.05)
    assert dead(child)  # it was in the group: killed too


def test_a_fault_armed_once_kills_the_first_job_reaching_it_and_not_its_retry(tmp_path):
    marker = tmp_path / "fault-once"
    marker.write_text("prepare:after_ids\n")
    code = (
        "from reclake.faults import fault_point\nfault_point('prepare', 'after_ids')\nprint('survived', flush=True)\n"
    )
    tries = []
    for _ in range(2):  # the try, then the scheduler's retry
        proc = python(code, env={FAULT_ONCE_ENV: str(marker)})
        out, _ = proc.communicate(timeout=10)
        tries.append((proc.returncode, out.strip()))
    assert tries == [(-signal.SIGKILL, ""), (0, "survived")]
    assert not marker.exists(), "the first job took the fault"


def dead(pid: int) -> bool:
    """Gone, or a zombie waiting for a parent to reap it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_a_live_holder_refuses_the_lock_naming_itself_and_a_killed_one_gives_it_up_at_once(tmp_path):
    lakehouse = LakehouseSection(root=str(tmp_path / "lakehouse"))
    holder = python(HOLD_WRITER_LOCK, lakehouse.root, "holder-run", "60", "300")
    assert holder.stdout is not None and holder.stdout.readline().startswith("held ")
    busy = rf"reclake run \(run holder-run, pid {holder.pid} on .*\) is writing to .*: run it again once"
    with pytest.raises(LakehouseBusy, match=busy), writer_lock(lakehouse, "second", "reclake publish", 0.3):
        pass
    os.killpg(holder.pid, signal.SIGKILL)
    holder.wait()
    started = time.monotonic()
    with writer_lock(lakehouse, "next-run", "reclake run", 0):  # no wait: the kernel released the dead holder's lock
        assert json.loads((tmp_path / "lakehouse" / LOCK_FILE).read_text())["run_id"] == "next-run"
    assert time.monotonic() - started < 0.5
