"""What the object store costs: the scale run with its landing data and lakehouse on local disk, then on S3.

The same ``reclake run`` as ``bench_scale.py`` at one scale (default 5M raw events, generate
included: each side generates its own day into its own store), built by bench_scale's
``measure`` with the same settings, twice in a fresh working folder: first with the landing
folder and the lakehouse on local disk, then both under ``s3a://<bucket>/`` on moto's
standalone server on loopback (the S3 stand-in of the e2e tests: ``tests.e2e.servers.s3_server``,
imported from the tests, so run this from a checkout with the dev extra installed). The run
reaches the store only through the AWS_* variables in its environment, as a user's would;
reclake adds the hadoop-aws connector itself. Spark's event log stays on local disk on both
sides (it is not the lakehouse).

Prints per stage the seconds on each side and their ratio (S3 / local), the wall time of each
``reclake run`` process (JVM start to exit), and, to say where the extra time goes:

- the requests moto served during the S3 run, by HTTP method and by stage (moto's request log,
  each request placed in the stage whose span holds its time stamp, from the run's log);
- moto's own throughput on the same server after the run, with boto3 from this process: PUT and
  GET of one 64 MiB object, and small requests per second (HEAD of a 1 KiB object), so a reader
  can tell moto's cost (one Python process: objects in memory, those over 5 MiB spooled to
  temporary files; requests served by threads under one GIL) from the S3A/Delta protocol's
  (how many requests).

Peak RSS is bench_scale's (the summed RSS of this process's tree): on the S3 side it includes
moto's server, whose own RSS at the end is printed beside it.

    PYTHONPATH=$PWD .venv/bin/python bench/bench_s3.py                    # 5M raw events
    PYTHONPATH=$PWD .venv/bin/python bench/bench_s3.py --events 100000   # a quick check
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import sys
import time
from collections import Counter
from pathlib import Path

import psutil
from bench_scale import ROOT, STAGES, catalogue_size, measure

from tests.e2e.servers import s3_client, s3_server

BUCKET = "reclake-bench"
# werkzeug's request log line: 127.0.0.1 - - [04/Dec/2026 12:00:01] "GET /bucket/key?list-type=2 HTTP/1.1" 200 -
REQUEST = re.compile(r'\[(\d\d/\w{3}/\d{4} \d\d:\d\d:\d\d)\] "(\w+) (\S+) HTTP')
COLOUR = re.compile(r"\x1b\[[0-9;]*m")  # werkzeug colours some lines (4xx, 3xx) on a terminal and off one
# the run's log line when a stage starts: 2026-12-04 12:00:01,234 INFO ... stage validate: starting (run ...)
STAGE_START = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d).*reclake\.runner: stage (\w+): (starting|done in)")
MiB = 2**20


def requests_by_stage(moto_log: Path, first_line: int, stderr: Path) -> tuple[Counter, dict[str, Counter]]:
    """The requests moto logged from line ``first_line`` on: (by method, by stage and method).

    Stages' spans come from the run's log file (named on the last line of its ``stderr``): a request
    belongs to the stage that started last at or before its time stamp (to the second), "before" the
    first stage (the JVM's start, the writer lease), "after" the last one (the run's reports). DynamoDB
    (the writer lease) is ``POST /``.
    """
    run_log = Path(re.findall(r"logs: (\S+)", stderr.read_text(errors="replace"))[-1])
    found = [m for m in map(STAGE_START.match, run_log.read_text(errors="replace").splitlines()) if m]
    spans = [(m[1], m[2]) for m in found if m[3] == "starting"] + [(found[-1][1], "after")]  # (time, from then)
    marks = [(dt.datetime.strptime(when, "%Y-%m-%d %H:%M:%S"), name) for when, name in spans]
    by_method: Counter = Counter()
    by_stage: dict[str, Counter] = {}
    for line in moto_log.read_text(errors="replace").splitlines()[first_line:]:
        m = REQUEST.search(COLOUR.sub("", line))
        if not m:
            continue
        when = dt.datetime.strptime(m[1], "%d/%b/%Y %H:%M:%S")
        kind = "POST (DynamoDB)" if m[2] == "POST" and m[3] == "/" else m[2]
        stage = next((name for start, name in reversed(marks) if start <= when), "before")
        by_method[kind] += 1
        by_stage.setdefault(stage, Counter())[kind] += 1
    return by_method, by_stage


def moto_throughput(env: dict[str, str], size: int = 64 * MiB, small: int = 300) -> dict[str, float]:
    """PUT and GET of one ``size``-byte object (MiB/s, best of 2), and HEAD requests per second (``small`` of
    them on a 1 KiB object), on moto's server with boto3; the objects are deleted after."""
    s3 = s3_client(env)
    body, put, get = os.urandom(size), [], []
    for _ in range(2):
        started = time.perf_counter()
        s3.put_object(Bucket=BUCKET, Key="probe/big", Body=body)
        put.append(time.perf_counter() - started)
        started = time.perf_counter()
        assert len(s3.get_object(Bucket=BUCKET, Key="probe/big")["Body"].read()) == size
        get.append(time.perf_counter() - started)
    s3.put_object(Bucket=BUCKET, Key="probe/small", Body=body[:1024])
    started = time.perf_counter()
    for _ in range(small):
        s3.head_object(Bucket=BUCKET, Key="probe/small")
    heads = small / (time.perf_counter() - started)
    s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": "probe/big"}, {"Key": "probe/small"}]})
    return {"put_mib_s": size / MiB / min(put), "get_mib_s": size / MiB / min(get), "head_per_s": heads}


def timed(
    workdir: Path, events: int, args: argparse.Namespace, store: str | None = None, env: dict[str, str] | None = None
) -> dict:
    """bench_scale's ``measure`` (one fresh run, generate included), with the run process's wall time."""
    started = time.perf_counter()
    row = measure(workdir, events, args, store, env)
    row["wall_s"] = time.perf_counter() - started
    print(f"{workdir.name}: {row['wall_s']:.0f} s", json.dumps(row["seconds"]), flush=True)
    return row


def markdown(local: dict, s3: dict, by_stage: dict[str, Counter]) -> str:
    """Per stage: seconds on each side, their ratio and difference, and the requests moto served in it."""
    kinds = sorted({kind for counts in by_stage.values() for kind in counts})
    lines = [
        "| stage | local s | S3 s | S3 / local | S3 - local s | requests to S3 | " + " | ".join(kinds) + " |",
        "|---|---|---|---|---|---|" + "---|" * len(kinds),
    ]
    outside = by_stage.get("before", Counter()) + by_stage.get("after", Counter())
    rows = [(stage, local["seconds"][stage], s3["seconds"][stage], by_stage.get(stage, Counter())) for stage in STAGES]
    rows += [
        ("total (stages)", local["seconds"]["total"], s3["seconds"]["total"], sum((r[3] for r in rows), Counter())),
        ("outside stages", None, None, outside),
        ("wall (process)", local["wall_s"], s3["wall_s"], sum(by_stage.values(), Counter())),
    ]
    for stage, a, b, counts in rows:
        times = "| - | - | - | - |" if a is None else f"| {a:.1f} | {b:.1f} | {b / a:.2f} | {b - a:+.1f} |"
        lines.append(
            f"| {stage} {times} {sum(counts.values()):,} | " + " | ".join(f"{counts[k]:,}" for k in kinds) + " |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--rank", type=int, default=32)
    parser.add_argument("--max-iter", type=int, default=10)
    parser.add_argument("--driver-memory", default="12g")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/reclake-bench-s3"))
    args = parser.parse_args()
    args.next_day_events = 0  # measure's second day: not here
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    users, items = catalogue_size(args.events)
    print(f"{args.events:,} events ({users:,} users x {items:,} items); load average {os.getloadavg()}", flush=True)

    local = timed(args.workdir / "local", args.events, args)
    (state := args.workdir / "moto").mkdir(parents=True, exist_ok=True)
    with s3_server(state, BUCKET) as env:
        moto_log = state / "moto.log"
        first = len(moto_log.read_text(errors="replace").splitlines())
        s3 = timed(args.workdir / "s3", args.events, args, store=f"s3a://{BUCKET}", env=env)
        by_method, by_stage = requests_by_stage(moto_log, first, args.workdir / "s3" / "run.log")
        moto = next(p for p in psutil.Process().children(recursive=True) if "moto" in " ".join(p.cmdline()))
        moto_rss = moto.memory_info().rss / 2**30
        probe = moto_throughput(env)
    print(f"load average at the end {os.getloadavg()}")

    results = {"local": local, "s3": s3, "requests": by_method, "requests_by_stage": by_stage}
    results |= {"moto_rss_gib": moto_rss, "moto_throughput": probe}
    (args.workdir / "results.json").write_text(json.dumps(results, indent=1))
    print(f"\n{s3['raw_events']:,} raw events ({local['raw_events']:,} on local disk), {s3['pairs']:,} pairs\n")
    print(markdown(local, s3, by_stage))
    print(f"\nrequests to moto during the S3 run: {sum(by_method.values()):,} ({dict(by_method.most_common())})")
    print(
        f"moto alone (boto3, 64 MiB object): PUT {probe['put_mib_s']:.0f} MiB/s, GET {probe['get_mib_s']:.0f} MiB/s; "
        f"HEAD of a 1 KiB object {probe['head_per_s']:.0f}/s, so the run's requests one after the other at that rate: "
        f"{sum(by_method.values()) / probe['head_per_s']:.0f} s"
    )
    print(
        f"peak RSS: local {local['peak_rss_gib']:.1f} GiB, S3 {s3['peak_rss_gib']:.1f} GiB "
        f"(with moto's server, {moto_rss:.1f} GiB at the end)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
