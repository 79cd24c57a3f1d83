"""Incoming webhooks on loopback that honour `Idempotency-Key` (as Stripe-style receivers do).

The first request with a key is processed and its answer kept; a later request
with the same key gets the kept answer (`Idempotent-Replayed: true`) and is not
processed again. `posts` holds the processed posts, one per effect.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.providers.base import Provider, Reply, Request

REPLAYED = "Idempotent-Replayed"


@dataclass(frozen=True)
class Post:
    path: str
    key: str
    body: dict[str, Any]


class WebhookServer(Provider):
    def __init__(self) -> None:
        super().__init__()
        self.posts: list[Post] = []
        self._answers: dict[str, Reply] = {}

    def route(self, request: Request) -> Reply:
        if request.method != "POST":
            return Reply.json({"error": "method not allowed"}, 405)
        key = request.headers.get("idempotency-key", "")
        with self.lock:
            kept = self._answers.get(key) if key else None
            if kept is not None:
                return Reply(kept.status, kept.body, {**kept.headers, REPLAYED: "true"})
            self.posts.append(Post(request.path, key, request.json()))
            answer = Reply.json({"ok": True, "post": len(self.posts)})
            if key:
                self._answers[key] = answer
        return answer

    def effects(self, path: str) -> list[Post]:
        """The posts that were processed for one webhook path."""
        with self.lock:
            return [p for p in self.posts if p.path == path]
