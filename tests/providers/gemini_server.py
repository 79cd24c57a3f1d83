"""The Gemini API's generateContent on loopback, as documented: POST
/{v1,v1beta}/models/{model}:generateContent with the x-goog-api-key header, a
GenerateContentResponse (candidates[].content.parts[].text, usageMetadata), and
`{"error": {"code", "message", "status"}}` errors; both documented versions, v1 and
v1beta (SDK releases differ in which they default to) (400 INVALID_ARGUMENT for a bad
key, 429 RESOURCE_EXHAUSTED, 500 INTERNAL, 503 UNAVAILABLE)."""

from __future__ import annotations

import json
import re
from collections import deque

from tests.providers.base import Provider, Reply, Request
from tests.providers.openai_server import CONTENT

STATUSES = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
GENERATE = re.compile(r"^/(v1|v1beta)/models/(?P<model>[\w.-]+):generateContent$")


def error(code: int, message: str) -> Reply:
    return Reply.json({"error": {"code": code, "message": message, "status": STATUSES[code]}}, code)


class GeminiServer(Provider):
    def __init__(self, api_key: str = "AIza-test-google-key") -> None:
        super().__init__()
        self.api_key = api_key
        self.content = json.dumps({**CONTENT, "social_post": "Written by Gemini. #SkyyRose"})
        self.errors: deque[int] = deque()

    def route(self, request: Request) -> Reply:
        if request.headers.get("x-goog-api-key") != self.api_key:
            return error(400, "API key not valid. Please pass a valid API key.")
        match = GENERATE.match(request.path)
        if request.method != "POST" or match is None:
            return error(404, f"{request.path} is not found")
        body = request.json()
        if not body.get("contents"):
            return error(400, "* GenerateContentRequest.contents: contents is not specified")
        if self.errors:
            code = self.errors.popleft()
            return error(code, "injected")
        return Reply.json(
            {
                "candidates": [
                    {
                        "content": {"role": "model", "parts": [{"text": self.content}]},
                        "finishReason": "STOP",
                        "index": 0,
                    }
                ],
                "usageMetadata": {
                    "promptTokenCount": 60,
                    "candidatesTokenCount": 90,
                    "totalTokenCount": 150,
                },
                "modelVersion": match["model"],
            }
        )
