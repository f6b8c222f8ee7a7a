"""The V2 model repository extension over REST: a pool server's index, load and unload.

`POST /v2/repository/index` (body `{"ready": true}` for the loaded ones only) lists
every version of the catalogue with its state (READY, UNAVAILABLE, LOADING) and why;
`POST /v2/repository/models/{name}/load` and `/unload` load or unload the version named
by the body's `parameters.version`, or the family's stable one. A load answers when the
model is loaded (503 with the reason when it cannot be); an unloaded model is loaded
again by its next request, as any other in a pool. Errors are the server's JSON errors.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, StrictBool, StrictStr

from modelkeeper.serving.app import json_response
from modelkeeper.serving.payloads import parse_json, validate_body
from modelkeeper.serving.pool import ModelPool

EXTENSION = "model_repository"


class IndexRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    ready: StrictBool = False


class VersionParameters(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    version: StrictStr | None = None


class ModelRequest(BaseModel):
    """A load or unload request's body: KServe's `parameters`, of which `version` is read."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    parameters: VersionParameters = VersionParameters()


async def _body(request: web.Request, model: type[Any]) -> Any:
    body = await request.read()
    return validate_body(model, parse_json(body) if body.strip() else {})


def repository_routes(pool: ModelPool) -> list[web.RouteDef]:
    async def index(request: web.Request) -> web.Response:
        asked: IndexRequest = await _body(request, IndexRequest)
        return json_response(pool.index(asked.ready))

    async def load(request: web.Request) -> web.Response:
        asked: ModelRequest = await _body(request, ModelRequest)
        name, version = request.match_info["name"], asked.parameters.version
        await pool.load(name, version)
        return json_response(pool.describe(name, version))

    async def unload(request: web.Request) -> web.Response:
        asked: ModelRequest = await _body(request, ModelRequest)
        name, version = request.match_info["name"], asked.parameters.version
        pool.unload(name, version)
        return json_response(pool.describe(name, version))

    return [
        web.post("/v2/repository/index", index),
        web.post("/v2/repository/models/{name}/load", load),
        web.post("/v2/repository/models/{name}/unload", unload),
    ]
