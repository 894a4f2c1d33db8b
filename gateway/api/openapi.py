"""The OpenAPI document: FastAPI's, plus what it cannot see.

/v1/chat/completions is a plain Starlette route and /v1/embeddings reads its own body (both for
speed, see api/chat.py), so FastAPI knows neither body. Their request schemas come from the wire
models and every answer but 200 is the one error shape; the fuzz test generates bodies from here.
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from gateway.schemas import ChatCompletionRequest, EmbeddingRequest

REF = "#/components/schemas/{model}"
ERROR_ANSWERS = {
    "400": "Invalid request: a bad field, a forbidden parameter, malformed JSON",
    "401": "Missing or invalid API key",
    "404": "The model names neither a route nor a configured model",
    "413": "The body is larger than server.max_body_bytes",
    "429": "Rate limited upstream",
    "502": "The upstream failed",
    "503": "Not ready, or over the concurrency limit",
    "504": "The upstream timed out",
}
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {
        "type": "object",
        "required": ["message", "type", "param", "code"],
        "properties": {"message": {"type": "string"}, "type": {"type": "string"},
                       "param": {"type": ["string", "null"]}, "code": {"type": "string"}},
    }},
}


def openapi_document(app: FastAPI) -> dict[str, Any]:
    document = copy.deepcopy(app.openapi())
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["ErrorResponse"] = ERROR_SCHEMA
    document["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    paths = document.setdefault("paths", {})
    paths["/v1/chat/completions"] = {"post": _operation(
        schemas, ChatCompletionRequest, "Create a chat completion",
        "`model` names a route (or a model in gateway.yaml). Only OpenAI chat parameters and the route's "
        "passthrough_params reach a provider; fields that steer the call (api_base, base_url, api_key, "
        "mock_response, ...) are refused with a 400 naming the field.",
        {"text/event-stream": {"schema": {"type": "string"}}},
    )}
    paths.setdefault("/v1/embeddings", {})["post"] = _operation(
        schemas, EmbeddingRequest, "Create embeddings",
        "Embeddings from the gateway's embedder; at most embedder.max_inputs texts per request.", {},
    )
    return document


def _operation(schemas: dict[str, Any], model: type[BaseModel], summary: str, description: str,
               extra_content: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template=REF)
    schemas.update(schema.pop("$defs", {}))
    schemas[model.__name__] = schema
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
    responses: dict[str, Any] = {"200": {"description": "OK", "content": {"application/json": {"schema": {
        "type": "object"}}, **extra_content}}}
    responses.update({status: {"description": text, "content": error} for status, text in ERROR_ANSWERS.items()})
    return {
        "summary": summary,
        "description": description,
        "operationId": model.__name__,
        "security": [{"bearer": []}],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {"$ref": REF.format(
            model=model.__name__)}}}},
        "responses": responses,
    }
