"""A small HTTP service over the lookup client: recommendations and new items by user, similar items by item.

Newly published versions are served without a restart (the client re-checks the
table at most every ``--refresh-s`` seconds). Unknown ids are 404; malformed
input (empty or over-long ids, control or invisible format characters, a
negative version, a body that is not the JSON asked for) is 400 with a short
JSON error that does not echo the input. ``POST /recommendations/{user_id}``
with ``{"items": [...]}`` (optionally ``"event_types"``, ``"values"``, one per
item) answers a list folded in from the user's history and those items
(reclake/serving/realtime.py): more than ``--max-recent`` items is 413, event
types or values it cannot use 422. With ``kafka.serve_recent`` in the config a
consumer thread follows the topic (reclake/serving/follow.py): the POST then folds
in the user's events read from it before the body's items (which may be empty),
and ``GET /recommendations/{user_id}/realtime`` answers from those events alone;
both answers say how many came from Kafka (``kafka_events``) and how far the
consumer is (``kafka``: its lag, the last message's time). Requests are bounded (URL length, header
size, a body only there and at most 64 KiB) and so are responses (at most
``--max-items`` items); idle connections are closed after a timeout.

    reclake serve --config conf/local.yaml --port 8000
    curl localhost:8000/recommendations/U123
    curl localhost:8000/new-items/U123
    curl -H 'Content-Type: application/json' -d '{"items": ["I7", "I42"], "event_types": ["view", "purchase"]}' localhost:8000/recommendations/U123
    curl localhost:8000/recommendations/U123/realtime   # with kafka.serve_recent: true
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, StringConstraints

from reclake.console import exit_now, failure_line
from reclake.errors import ReclakeError
from reclake.serving import answers
from reclake.serving.answers import ID_PATTERN, MAX_ID_LENGTH, MAX_ITEMS, IdText, Refused
from reclake.serving.follow import KafkaFollower
from reclake.serving.lookup import LookupClient, add_lookup_options, config_from_args
from reclake.serving.realtime import MAX_RECENT_ITEMS

Id = Annotated[str, PathParam(min_length=1, max_length=MAX_ID_LENGTH, pattern=ID_PATTERN)]  # answers.IdText's rules
MAX_URL_BYTES = 2048  # path and query: an id of 256 characters, percent-encoded 4-byte UTF-8, fits
MAX_HEADER_BYTES = 16 * 1024  # all header names and values of one request
# uvicorn: close idle keep-alive connections after this many seconds; cap a request still arriving at 16 KiB.
KEEP_ALIVE_S = 5
MAX_INCOMPLETE_BYTES = 16 * 1024
MAX_CONCURRENCY = 64  # connections + requests at once; above it uvicorn answers 503
MAX_BODY_BYTES = 64 * 1024  # a real-time request: the recent items' ids, event types and values


class RecentItems(BaseModel):
    """POST /recommendations/{user_id}: what the user had since the run, one event per item."""

    model_config = ConfigDict(extra="forbid")

    items: list[IdText]
    event_types: list[Annotated[str, StringConstraints(max_length=MAX_ID_LENGTH)]] | None = None
    values: list[float | None] | None = None


def _field(loc: Sequence[str | int]) -> str:
    """The parameter an error is about: ``user_id``, ``version``, ``items`` (not an index in it), or ``body``.

    Only names the API declares: a key the client made up is input, and is never echoed.
    """
    name = next((str(part) for part in loc[1:] if isinstance(part, str)), str(loc[0]))
    return name if loc[0] != "body" or name in RecentItems.model_fields else "body"


def create_app(client: LookupClient, *, max_items: int = MAX_ITEMS, follower: KafkaFollower | None = None) -> FastAPI:
    """The service over ``client``; a real-time request may name at most ``client.max_recent`` items;
    ``follower``: the users' events read from Kafka, folded into their real-time lists."""
    app = FastAPI(title="reclake", description="Published recommendations, looked up by id.")

    def answer(lookup: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return answers.answer(lookup, *args, max_items=max_items, **kwargs)

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status)

    @app.middleware("http")
    async def bounded_requests(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        """Refuse what this API never needs: a long URL, long headers, a body anywhere but a bounded POST."""
        url_bytes = len(request.scope.get("raw_path", b"")) + len(request.scope.get("query_string", b""))
        if url_bytes > MAX_URL_BYTES:
            return JSONResponse({"detail": f"URL longer than {MAX_URL_BYTES} bytes"}, status_code=414)
        if sum(len(name) + len(value) for name, value in request.scope["headers"]) > MAX_HEADER_BYTES:
            return JSONResponse({"detail": f"headers longer than {MAX_HEADER_BYTES} bytes"}, status_code=431)
        has_body = request.headers.get("content-length", "0") != "0" or "transfer-encoding" in request.headers
        if request.method != "POST":
            if has_body:
                return JSONResponse({"detail": "this request takes no body"}, status_code=413)
            return await call_next(request)
        # The one body: POST /recommendations/{user_id}, JSON of a bounded length given up front.
        if "transfer-encoding" in request.headers:
            return JSONResponse({"detail": "send the body with a Content-Length"}, status_code=411)
        length = request.headers.get("content-length", "")
        if not length.isdigit():
            return JSONResponse({"detail": "send the body with a Content-Length"}, status_code=411)
        if int(length) > MAX_BODY_BYTES:
            return JSONResponse({"detail": f"body longer than {MAX_BODY_BYTES} bytes"}, status_code=413)
        return await call_next(request)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        """400 naming the parameter, without echoing what was sent (it may be long or hostile)."""
        return await refused(request, answers.invalid({_field(e["loc"]) for e in exc.errors() if e.get("loc")}))

    # Plain (not async) handlers: FastAPI runs them in its thread pool, so file reads do not block the loop.
    @app.get("/recommendations/{user_id}")
    def recommendations(user_id: Id, version: Annotated[int | None, Query(ge=0)] = None) -> dict[str, Any]:
        return answer(client.recommendations_for, user_id, version)

    @app.post("/recommendations/{user_id}")
    def realtime(user_id: Id, body: RecentItems) -> dict[str, Any]:
        """The list folded in from the user's batch history and ``items`` (source realtime)."""
        if len(body.items) > client.max_recent:
            raise HTTPException(status_code=413, detail=f"more than {client.max_recent} items in one request")
        return followed(user_id, body.items, body.event_types, body.values)

    @app.get("/recommendations/{user_id}/realtime")
    def realtime_from_kafka(user_id: Id) -> dict[str, Any]:
        """The list folded in from the user's batch history and their events read from Kafka."""
        if follower is None:
            raise HTTPException(status_code=404, detail="this server follows no Kafka topic (kafka.serve_recent)")
        return followed(user_id, [])

    def followed(user_id: str, *request: Any) -> dict[str, Any]:
        """The real-time answer with the user's Kafka events (if followed) before the request's items."""
        if follower is None:
            return answer(client.realtime_for, user_id, *request)
        result = answer(client.realtime_for, user_id, *request, followed=follower.events.of(user_id))
        return {**result, "kafka": follower.status()}

    @app.get("/new-items/{user_id}")
    def new_items(user_id: Id) -> dict[str, Any]:
        return answer(client.new_items_for, user_id)

    @app.get("/similar/{item_id}")
    def similar(item_id: Id) -> dict[str, Any]:
        return answer(client.similar_items, item_id)

    return app


def main(argv: Sequence[str] | None = None) -> int:
    import uvicorn

    parser = argparse.ArgumentParser(prog="reclake serve", description=__doc__.splitlines()[0])
    add_lookup_options(parser)
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: loopback only)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--refresh-s", type=float, default=1.0, help="how often to check for a new version")
    parser.add_argument("--max-items", type=int, default=MAX_ITEMS, help="most items in one response")
    parser.add_argument(
        "--max-recent", type=int, default=MAX_RECENT_ITEMS, help="most recent items in one real-time request"
    )
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
    except ReclakeError as exc:
        print(failure_line("reclake serve", exc), file=sys.stderr)
        return exc.condition.exit_status
    client = LookupClient(config.lakehouse.root, refresh_s=args.refresh_s, max_recent=args.max_recent)
    follower = None
    if config.kafka is not None and config.kafka.serve_recent:
        follower = KafkaFollower(config, lambda: client.item_factors.latest().run_date, os.environ).start()
    app = create_app(client, max_items=args.max_items, follower=follower)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        timeout_keep_alive=KEEP_ALIVE_S,
        h11_max_incomplete_event_size=MAX_INCOMPLETE_BYTES,
        limit_concurrency=MAX_CONCURRENCY,
        timeout_graceful_shutdown=10,
    )
    return 0


if __name__ == "__main__":
    exit_now(main())
