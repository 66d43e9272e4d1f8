"""A small HTTP service over the lookup client: recommendations and new items by user, similar items by item.

Newly published versions are served without a restart (the client re-checks the
table at most every ``--refresh-s`` seconds). Unknown ids are 404; malformed
input (empty or over-long ids, control or invisible format characters, a
negative version) is 400 with a short JSON error that does not echo the input.
Requests are bounded (URL length, header size, no body) and so are responses
(at most ``--max-items`` items); idle connections are closed after a timeout.

    reclake serve --config conf/local.yaml --port 8000
    curl localhost:8000/recommendations/U123
    curl localhost:8000/new-items/U123
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from reclake.console import failure_line
from reclake.errors import MissingTableError, ReclakeError
from reclake.serving.lookup import (
    LookupClient,
    NotFound,
    add_lookup_options,
    lakehouse_from_args,
)

# Ids are the input's strings: printable text up to 256 characters, as validation lets through (no controls,
# no invisible format characters such as bidi or zero-width marks, no line separators).
MAX_ID_LENGTH = 256
Id = Annotated[str, PathParam(min_length=1, max_length=MAX_ID_LENGTH, pattern=r"^[^\p{Cc}\p{Cf}\p{Zl}\p{Zp}]+$")]
MAX_URL_BYTES = 2048  # path and query: an id of 256 characters, percent-encoded 4-byte UTF-8, fits
MAX_ITEMS = 1000  # items in one response, by default
MAX_HEADER_BYTES = 16 * 1024  # all header names and values of one request
# uvicorn: close idle keep-alive connections after this many seconds; cap a request still arriving at 16 KiB.
KEEP_ALIVE_S = 5
MAX_INCOMPLETE_BYTES = 16 * 1024
MAX_CONCURRENCY = 64  # connections + requests at once; above it uvicorn answers 503


def create_app(client: LookupClient, *, max_items: int = MAX_ITEMS) -> FastAPI:
    app = FastAPI(title="reclake", description="Published recommendations, looked up by id.")

    def answer(lookup: Any, *args: Any) -> dict[str, Any]:
        try:
            result = lookup(*args)
        except NotFound as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from None
        except MissingTableError as exc:
            raise HTTPException(status_code=503, detail=str(exc)) from None
        return {**result, "items": result["items"][:max_items]}

    @app.middleware("http")
    async def bounded_requests(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        """Refuse what this read-only API never needs: a long URL, a request body."""
        url_bytes = len(request.scope.get("raw_path", b"")) + len(request.scope.get("query_string", b""))
        if url_bytes > MAX_URL_BYTES:
            return JSONResponse({"detail": f"URL longer than {MAX_URL_BYTES} bytes"}, status_code=414)
        if sum(len(name) + len(value) for name, value in request.scope["headers"]) > MAX_HEADER_BYTES:
            return JSONResponse({"detail": f"headers longer than {MAX_HEADER_BYTES} bytes"}, status_code=431)
        if request.headers.get("content-length", "0") != "0" or "transfer-encoding" in request.headers:
            return JSONResponse({"detail": "this API takes no request body"}, status_code=413)
        return await call_next(request)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        """400 naming the parameter, without echoing what was sent (it may be long or hostile)."""
        fields = sorted({str(e["loc"][-1]) for e in exc.errors() if e.get("loc")})
        return JSONResponse({"detail": f"invalid {', '.join(fields) or 'request'}"}, status_code=400)

    # Plain (not async) handlers: FastAPI runs them in its thread pool, so file reads do not block the loop.
    @app.get("/recommendations/{user_id}")
    def recommendations(user_id: Id, version: Annotated[int | None, Query(ge=0)] = None) -> dict[str, Any]:
        return answer(client.recommendations_for, user_id, version)

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
    args = parser.parse_args(argv)
    try:
        lakehouse = lakehouse_from_args(args)
    except ReclakeError as exc:
        print(failure_line("reclake serve", exc), file=sys.stderr)
        return exc.condition.exit_status
    app = create_app(LookupClient(lakehouse, refresh_s=args.refresh_s), max_items=args.max_items)
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
    sys.exit(main())
