"""The writer lease of an ``s3a://`` lakehouse, kept in DynamoDB: what the ``flock`` of reclake/io/lock.py is
for a local one.

An object store has no lock that the kernel releases when its holder dies, so the lease expires instead.
One item per lakehouse in the table ``lakehouse.lease_table`` names the holder and when its lease ends;
the holder renews it every third of ``lakehouse.lease_expiry_s`` from a background thread. Taking it is one
conditional write (no item, or an item whose lease has ended), so DynamoDB picks one winner among jobs that
try at once, and a killed holder's lease is taken over once it has expired. A holder that stalled past its
expiry (a frozen machine, a long GC pause) finds at its next stage that the lease is another job's and stops
with :class:`WriterLeaseLost` instead of writing on. Expiry compares the clocks of two machines: keep them
in step (NTP) to well under the expiry.

Endpoint, region and credentials come from the AWS environment (``AWS_ENDPOINT_URL``, ``AWS_REGION``,
``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` or the default chain), as for every other component.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from reclake.errors import LakehouseBusy, WriterLeaseLost
from reclake.objectstore import aws_region

log = logging.getLogger(__name__)
_POLL_S = 0.5
_TAKE = "attribute_not_exists(lakehouse) OR expires_at < :now"
_MINE = "lease_token = :token"


def dynamodb_client() -> Any:
    """A DynamoDB client from the AWS environment (boto3 reads the endpoint and credentials there itself)."""
    import boto3  # only an object-store lakehouse needs it

    return boto3.client("dynamodb", region_name=aws_region(os.environ))


def _error_code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def _create_table(client: Any, table: str) -> None:
    """Create the lease table (one string key, on demand), or wait for the one another job is creating."""
    try:
        client.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": "lakehouse", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "lakehouse", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        log.info("created the DynamoDB table %s for writer leases", table)
    except Exception as exc:
        if _error_code(exc) != "ResourceInUseException":
            raise
    client.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 60})


class Lease:
    """One job's lease on one lakehouse: taken, renewed in the background, checked between stages, released."""

    def __init__(self, client: Any, table: str, lakehouse: str, expiry_s: float, holder: dict[str, Any]) -> None:
        self._client, self._table, self._key, self._expiry_s = client, table, lakehouse, expiry_s
        self._holder = json.dumps(holder)
        self._token = uuid.uuid4().hex
        self._stop = threading.Event()
        self._lost: str | None = None
        self._renewer = threading.Thread(target=self._renew_until_released, name="reclake-lease", daemon=True)

    def try_take(self) -> bool:
        """Take the lease if it is free or expired; False if a live holder has it."""
        now = time.time()
        item = {
            "lakehouse": {"S": self._key},
            "lease_token": {"S": self._token},
            "expires_at": {"N": repr(now + self._expiry_s)},
            "holder": {"S": self._holder},
        }
        try:
            try:
                previous = self._put_if_free(item, now)
            except Exception as exc:
                if _error_code(exc) != "ResourceNotFoundException":
                    raise
                _create_table(self._client, self._table)
                previous = self._put_if_free(item, now)
        except Exception as exc:
            if _error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        if previous:
            log.warning("took over an expired writer lease of %s: %s", self._key, _describe(previous))
        self._renewer.start()
        return True

    def _put_if_free(self, item: dict[str, Any], now: float) -> dict[str, Any] | None:
        """Write ``item`` unless a live lease is there; the expired lease it replaced, if any."""
        answer = self._client.put_item(
            TableName=self._table,
            Item=item,
            ConditionExpression=_TAKE,
            ExpressionAttributeValues={":now": {"N": repr(now)}},
            ReturnValues="ALL_OLD",
        )
        previous: dict[str, Any] | None = answer.get("Attributes")
        return previous

    def holder(self) -> str:
        """Who holds the lease now, and until when, for a refusal's message."""
        item = self._client.get_item(TableName=self._table, Key={"lakehouse": {"S": self._key}}, ConsistentRead=True)
        return _describe(item["Item"]) if "Item" in item else "another job (just released)"

    def check(self) -> None:
        """Raise :class:`WriterLeaseLost` if another job took the lease over while this one stalled."""
        if self._lost is not None:
            raise WriterLeaseLost(self._lost)

    def _renew_until_released(self) -> None:
        while not self._stop.wait(self._expiry_s / 3):
            try:
                self._client.update_item(
                    TableName=self._table,
                    Key={"lakehouse": {"S": self._key}},
                    UpdateExpression="SET expires_at = :until",
                    ConditionExpression=_MINE,
                    ExpressionAttributeValues={
                        ":until": {"N": repr(time.time() + self._expiry_s)},
                        ":token": {"S": self._token},
                    },
                )
            except Exception as exc:
                if _error_code(exc) != "ConditionalCheckFailedException":
                    log.warning("could not renew the writer lease of %s (will retry): %s", self._key, exc)
                    continue
                self._lost = (
                    f"the writer lease of {self._key} expired and {self.holder()} took it over; this job "
                    f"stopped before its next stage (it stalled for longer than lakehouse.lease_expiry_s)"
                )
                log.error("%s", self._lost)
                return

    def release(self) -> None:
        """Stop renewing and delete the lease, unless another job has taken it over meanwhile."""
        self._stop.set()
        if self._renewer.is_alive():
            self._renewer.join()
        try:
            self._client.delete_item(
                TableName=self._table,
                Key={"lakehouse": {"S": self._key}},
                ConditionExpression=_MINE,
                ExpressionAttributeValues={":token": {"S": self._token}},
            )
        except Exception as exc:
            if _error_code(exc) != "ConditionalCheckFailedException":
                raise
            log.warning("the writer lease of %s was another job's when this one released it", self._key)


def _utc(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def holder_record(job: str, run_id: str) -> dict[str, Any]:
    """Who is writing: kept with a lock or a lease so that a refused job can name it."""
    return {"job": job, "run_id": run_id, "pid": os.getpid(), "host": socket.gethostname(), "since": _utc(time.time())}


def describe_holder(held: dict[str, Any]) -> str:
    """``reclake run (run R, pid P on H, since T)``: a holder record in a refusal's words."""
    return (
        f"{held.get('job')} (run {held.get('run_id')}, pid {held.get('pid')} on {held.get('host')}, "
        f"since {held.get('since')})"
    )


def _describe(item: dict[str, Any]) -> str:
    held = describe_holder(json.loads(item["holder"]["S"]))
    return f"{held[:-1]}, lease until {_utc(float(item['expires_at']['N']))})"


@contextmanager
def writer_lease(
    lakehouse_root: str, holder: dict[str, Any], wait_s: float, table: str, expiry_s: float
) -> Iterator[Lease]:
    """Hold the DynamoDB writer lease of ``lakehouse_root`` for the block, waiting up to ``wait_s`` seconds.

    Raises :class:`LakehouseBusy`, naming the holder and its lease's end, when a live job still holds it.
    """
    lease = Lease(dynamodb_client(), table, lakehouse_root, expiry_s, holder)
    started = time.monotonic()
    while not lease.try_take():
        if time.monotonic() - started >= wait_s:
            raise LakehouseBusy(
                f"{lease.holder()} is writing to {lakehouse_root}; this run did not start (waited {wait_s:g} s, "
                "run.lock_wait_s): run it again once that one has finished or its lease has expired"
            )
        time.sleep(_POLL_S)
    try:
        yield lease
    finally:
        lease.release()
