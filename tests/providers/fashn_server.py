"""FASHN API v1 on loopback: POST /v1/run, GET /v1/status/{id}.

/run answers with the credits it consumed in `x-fashn-credits-used` (one per
requested image, `credits_per_sample`), unless `report_credits` is off.

A prediction whose garment image URL contains one of `hold_marks` stays
`processing` until the test removes the mark.
"""

from __future__ import annotations

import itertools

from tests.providers.base import Provider, Reply, Request, bearer


class FashnServer(Provider):
    def __init__(self, api_key: str = "fa-test-key") -> None:
        super().__init__()
        self.api_key = api_key
        self.polls: dict[str, int] = {}
        self.polls_until_done = 2
        self.final_status = "completed"
        self.hold_marks: set[str] = set()
        self.credits_per_sample = 1
        self.report_credits = True
        self.garments: dict[str, str] = {}  # prediction id -> garment image URL
        self._ids = itertools.count(1)

    def started(self, mark: str) -> list[str]:
        """Ids of the predictions started for a garment URL containing `mark`."""
        return [p for p, garment in self.garments.items() if mark in garment]

    def route(self, request: Request) -> Reply:
        if bearer(request) != self.api_key:
            return Reply.json({"error": "UnauthorizedAccess", "message": "Invalid API key"}, 401)
        if request.method == "POST" and request.path == "/v1/run":
            body = request.json()
            inputs = body.get("inputs") or {}
            if body.get("model_name") != "tryon-v1.6" or not {
                "model_image",
                "garment_image",
            } <= set(inputs):
                return Reply.json(
                    {"id": None, "error": {"name": "BadRequest", "message": "bad inputs"}}, 400
                )
            prediction = f"pred-{next(self._ids)}"
            self.polls[prediction] = 0
            self.garments[prediction] = str(inputs["garment_image"])
            reply = Reply.json({"id": prediction, "error": None})
            if self.report_credits:
                samples = int(inputs.get("num_samples", 1))
                reply.headers["x-fashn-credits-used"] = str(samples * self.credits_per_sample)
            return reply
        if request.method == "GET" and request.path.startswith("/v1/status/"):
            prediction = request.path.removeprefix("/v1/status/")
            if prediction not in self.polls:
                return Reply.json({"error": "NotFound"}, 404)
            self.polls[prediction] += 1
            garment = self.garments[prediction]
            if any(mark in garment for mark in set(self.hold_marks)):
                return Reply.json(
                    {"id": prediction, "status": "processing", "output": None, "error": None}
                )
            if self.polls[prediction] <= self.polls_until_done:
                state = "in_queue" if self.polls[prediction] == 1 else "processing"
                return Reply.json(
                    {"id": prediction, "status": state, "output": None, "error": None}
                )
            if self.final_status == "completed":
                return Reply.json(
                    {
                        "id": prediction,
                        "status": "completed",
                        "error": None,
                        "output": [f"https://cdn.fashn.ai/{prediction}/output_0.png"],
                    }
                )
            return Reply.json(
                {
                    "id": prediction,
                    "status": "failed",
                    "output": None,
                    "error": {"name": "PoseError", "message": "no pose detected"},
                }
            )
        return Reply.json({"error": "NotFound"}, 404)
