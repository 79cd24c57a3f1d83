"""OpenAI chat completions on loopback, in the JSON shape the openai SDK parses.

Each completion reports `usage` (prompt_tokens, completion_tokens, total_tokens)
as the API does; tests set `usage` to the counts they expect to be billed.
"""

from __future__ import annotations

import json
import time

from tests.providers.base import Provider, Reply, Request, bearer

CONTENT = {
    "subject": "{name}, the BLACK collection is here",
    "body": "Hi {name},\n\nOur new BLACK collection drops today.\n\nSkyyRose",
    "social_post": "The BLACK collection drops today. #SkyyRose",
    "seo_title": "SkyyRose BLACK Collection Hoodies",
    "meta_description": "Luxury streetwear hoodies from the SkyyRose BLACK collection.",
    "keywords": ["luxury streetwear", "black hoodie", "SkyyRose"],
}


class OpenAIServer(Provider):
    def __init__(self, api_key: str = "sk-test-openai-key") -> None:
        super().__init__()
        self.api_key = api_key
        self.content: str = json.dumps(CONTENT)
        self.usage: tuple[int, int] = (50, 80)  # (prompt_tokens, completion_tokens)

    def route(self, request: Request) -> Reply:
        if bearer(request) != self.api_key:
            return Reply.json(
                {
                    "error": {
                        "message": "Incorrect API key provided",
                        "type": "invalid_request_error",
                        "param": None,
                        "code": "invalid_api_key",
                    }
                },
                401,
            )
        if request.method == "POST" and request.path == "/v1/chat/completions":
            body = request.json()
            if not body.get("messages") or not body.get("model"):
                return Reply.json(
                    {
                        "error": {
                            "message": "messages required",
                            "type": "invalid_request_error",
                            "param": "messages",
                            "code": None,
                        }
                    },
                    400,
                )
            return Reply.json(
                {
                    "id": "chatcmpl-test",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body["model"],
                    "choices": [
                        {
                            "index": 0,
                            "message": {
                                "role": "assistant",
                                "content": self.content,
                                "refusal": None,
                            },
                            "logprobs": None,
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {
                        "prompt_tokens": self.usage[0],
                        "completion_tokens": self.usage[1],
                        "total_tokens": sum(self.usage),
                    },
                }
            )
        return Reply.json(
            {
                "error": {
                    "message": "not found",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": None,
                }
            },
            404,
        )
