"""A small HTTP service over the lookup client: recommendations and new items by user, similar items by item.

Newly published versions are served without a restart (the client re-checks the
table at most every ``--refresh-s`` seconds). Unknown ids are 404; malformed
input (empty or over-long ids, control characters, a negative version) is 422.

    reclake serve --config conf/local.yaml --port 8000
    curl localhost:8000/recommendations/U123
    curl localhost:8000/new-items/U123
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Query
from fastapi import Path as PathParam

from reclake.errors import MissingTableError, ReclakeError
from reclake.serving.lookup import (
    LookupClient,
    NotFound,
    add_lookup_options,
    lakehouse_from_args,
)

# Ids are the input's strings: any printable text up to 256 characters.
Id = Annotated[str, PathParam(min_length=1, max_length=256, pattern=r"^[^\x00-\x1f\x7f]+$")]


def create_app(client: LookupClient) -> FastAPI:
    app = FastAPI(title="reclake", description="Published recommendations, looked up by id.")

    def answer(lookup: Any, *args: Any) -> dict[str, Any]:
        try:
            return lookup(*args)
        except NotFound as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from None
        except MissingTableError as exc:
            raise HTTPException(status_code=503, detail=str(exc)) from None

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
    args = parser.parse_args(argv)
    try:
        lakehouse = lakehouse_from_args(args)
    except ReclakeError as exc:
        print(f"reclake serve: error: {exc}", file=sys.stderr)
        return 2
    app = create_app(LookupClient(lakehouse, refresh_s=args.refresh_s))
    uvicorn.run(app, host=args.host, port=args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
