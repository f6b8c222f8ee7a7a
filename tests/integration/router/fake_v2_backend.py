"""A tiny V2 inference server with a known rule, run as a real process behind the router.

Its "model" predicts 1 for each row whose first input value exceeds `--threshold`,
else 0, so two instances with different thresholds disagree on exactly the rows
between them, and a test can count the disagreements in advance. Every answer names
the instance (`x-backend` header) and the request id it saw (`x-seen-request-id`).
It holds served request ids for feedback the way docs/feedback.md says a scoring
server does: 200 for an id it served (once), 404 otherwise.

Run: python fake_v2_backend.py [--host H] --port P --name N [--threshold T] [--delay-ms D]
"""

from __future__ import annotations

import argparse
import asyncio
import uuid
from typing import Any

import orjson
from aiohttp import web


def rows_of(data: Any) -> list[float]:
    """The first value of each row, whether rows came flat or as lists."""
    return [float(row[0] if isinstance(row, list) else row) for row in data]


def build_app(name: str, threshold: float, delay_seconds: float) -> web.Application:
    served: dict[str, int] = {}

    def answer(status: int, document: object, request_id: str | None = None) -> web.Response:
        headers = {"x-backend": name}
        if request_id is not None:
            headers["x-seen-request-id"] = request_id
            headers["x-request-id"] = request_id
        return web.Response(
            status=status,
            body=orjson.dumps(document),
            content_type="application/json",
            headers=headers,
        )

    async def infer(request: web.Request) -> web.Response:
        if delay_seconds:
            await asyncio.sleep(delay_seconds)
        try:
            body = orjson.loads(await request.read())
            values = rows_of(body["inputs"][0]["data"] if "inputs" in body else body["instances"])
            request_id = str(body.get("id") or request.headers.get("x-request-id") or uuid.uuid4())
        except (
            orjson.JSONDecodeError,
            LookupError,
            TypeError,
            ValueError,
            AttributeError,
        ) as error:
            return answer(400, {"error": f"bad request: {error}"})
        served[request_id] = len(values)
        labels = [int(value > threshold) for value in values]
        if "instances" in body:
            return answer(200, {"predictions": labels}, request_id)
        outputs = [
            {"name": "predict", "datatype": "INT64", "shape": [len(labels)], "data": labels},
            {
                "name": "predict_proba",
                "datatype": "FP64",
                "shape": [len(labels), 2],
                "data": [p for label in labels for p in (1.0 - label, float(label))],
            },
        ]
        document = {"model_name": request.match_info["model"], "id": request_id, "outputs": outputs}
        return answer(200, document, request_id)

    async def feedback(request: web.Request) -> web.Response:
        try:
            request_id = str(orjson.loads(await request.read())["id"])
        except (orjson.JSONDecodeError, KeyError, TypeError) as error:
            return answer(400, {"error": f"bad request: {error}"})
        rows = served.pop(request_id, None)
        if rows is None:
            return answer(
                404, {"error": f"no prediction held for {request_id!r}", "matched": False}
            )
        return answer(200, {"id": request_id, "matched": True, "rows": rows}, request_id)

    async def metadata(request: web.Request) -> web.Response:
        return answer(200, {"name": request.match_info["model"], "versions": [name]})

    async def ready(request: web.Request) -> web.Response:
        return answer(200, {"ready": True})

    app = web.Application()
    app.add_routes(
        [
            web.post("/v2/models/{model}/infer", infer),
            web.post(r"/v1/models/{model:[^/:]+}:predict", infer),
            web.post("/v2/models/{model}/feedback", feedback),
            web.get("/v2/models/{model}", metadata),
            web.get("/v2/health/ready", ready),
        ]
    )
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    args = parser.parse_args()
    app = build_app(args.name, args.threshold, args.delay_ms / 1000)
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
