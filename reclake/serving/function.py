"""A Google Cloud Function (functions-framework, HTTP) serving one user's recommendations from the Delta lakehouse.

The design reclake comes from served recommendations from a Python Cloud Function;
this is that entry point over the same Spark-free lookup client as ``reclake serve``,
answering ``GET /recommendations/{user_id}?version=N`` with the same JSON and the
same errors (reclake/serving/answers.py holds what both answer): 400 for a malformed
id or version, 404 for an unknown one, 503 before anything is published. Only that
route: real-time lists, new items and similar items stay with ``reclake serve``. It
reads Delta only (the lookup client has no BigQuery reader; with the BigQuery sink,
apps query BigQuery, docs/publishing.md). Configured from the environment, as a
function is: ``RECLAKE_LAKEHOUSE`` (the root, e.g. ``s3://bucket/lakehouse``) and/or
``RECLAKE_CONFIG`` (a YAML file deployed with the function). One client per
instance, kept between requests, so a file's footer is parsed once and a new
publish is served within a second.

    RECLAKE_LAKEHOUSE=lakehouse functions-framework --source reclake/serving/function.py --target recommendations
    curl localhost:8080/recommendations/u0000042
"""

from __future__ import annotations

import functools
import json
import os
import re

import flask
import functions_framework

from reclake.config import load_config
from reclake.serving import answers
from reclake.serving.answers import Refused
from reclake.serving.lookup import LookupClient

ROUTE = re.compile(r"/recommendations/([^/]+)")


@functools.cache
def client() -> LookupClient:
    """The instance's lookup client, made on its first request: importing the module (as a deploy does) reads
    nothing."""
    lakehouse = os.environ.get("RECLAKE_LAKEHOUSE")
    config = load_config(os.environ.get("RECLAKE_CONFIG"), [f"lakehouse.root={lakehouse}"] if lakehouse else [])
    return LookupClient(config.lakehouse.root)


@functions_framework.http
def recommendations(request: flask.Request) -> flask.Response:
    """``GET /recommendations/{user_id}?version=N``: the body ``reclake serve`` gives, or its error status."""
    try:
        if request.method != "GET":
            raise Refused(405, "Method Not Allowed")
        route = ROUTE.fullmatch(request.path)
        if route is None:
            raise Refused(404, "Not Found")
        user_id, version = answers.checked(route[1], request.args.get("version"))
        body, status = answers.answer(client().recommendations_for, user_id, version), 200
    except Refused as exc:
        body, status = {"detail": exc.detail}, exc.status
    # As Starlette's JSONResponse writes it; dates as ISO text, as FastAPI encodes them.
    text = json.dumps(body, default=str, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return flask.Response(text, status=status, mimetype="application/json")
