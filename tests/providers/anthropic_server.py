"""Anthropic's Messages API on loopback (POST /v1/messages), as documented: the
x-api-key (or bearer) and anthropic-version headers, a `message` object with text content
blocks, and `{"type": "error", "error": {"type", "message"}}` errors (401
authentication_error, 429 rate_limit_error with retry-after, 529 overloaded_error,
500 api_error)."""

from __future__ import annotations

import json
from collections import deque

from tests.providers.base import Provider, Reply, Request, bearer
from tests.providers.openai_server import CONTENT

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def error(status: int, message: str, **headers: str) -> Reply:
    body = {"type": "error", "error": {"type": ERROR_TYPES[status], "message": message}}
    return Reply.json(body, status, **{"request-id": "req_test", **headers})


class AnthropicServer(Provider):
    def __init__(self, api_key: str = "sk-ant-test-key") -> None:
        super().__init__()
        self.api_key = api_key
        self.content = json.dumps({**CONTENT, "social_post": "Written by Claude. #SkyyRose"})
        self.errors: deque[int] = deque()  # statuses the next calls answer with

    def route(self, request: Request) -> Reply:
        # The key as x-api-key (the documented header) or a bearer token (what
        # recent SDK releases send with their newer anthropic-version).
        if self.api_key not in (request.headers.get("x-api-key"), bearer(request)):
            return error(401, "invalid x-api-key")
        if not request.headers.get("anthropic-version"):
            return error(400, "anthropic-version: header is required")
        if request.method != "POST" or request.path != "/v1/messages":
            return Reply.json(
                {"type": "error", "error": {"type": "not_found_error", "message": "Not found"}},
                404,
            )
        body = request.json()
        if not body.get("model") or not body.get("messages") or not body.get("max_tokens"):
            return error(400, "model, messages and max_tokens: Field required")
        if self.errors:
            status = self.errors.popleft()
            return error(status, "injected", **({"retry-after": "0"} if status == 429 else {}))
        return Reply.json(
            {
                "id": "msg_01Test",
                "type": "message",
                "role": "assistant",
                "model": body["model"],
                "content": [{"type": "text", "text": self.content}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": 60, "output_tokens": 90},
            },
            **{"request-id": "req_test"},
        )
