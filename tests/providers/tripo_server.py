"""Tripo3D v2 OpenAPI on loopback: /task, /task/{id}, /upload, plus the file host.

A task whose prompt contains one of `hold_marks` stays `running` until the test
removes the mark: the test decides when a generation ends.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from tests.providers.base import Provider, Reply, Request, bearer

GLB = b"glTF\x02\x00\x00\x00fake-binary-model"
PNG = b"\x89PNG\r\n\x1a\nfake-preview"


@dataclass
class TripoTask:
    body: dict[str, object]
    polls: int = 0


class TripoServer(Provider):
    def __init__(self, api_key: str = "tsk_test_key") -> None:
        super().__init__()
        self.api_key = api_key
        self.tasks: dict[str, TripoTask] = {}
        self.polls_until_done = 2
        self.final_status = "success"
        self.hold_marks: set[str] = set()
        self._ids = itertools.count(1)

    def created(self, mark: str) -> list[str]:
        """Ids of the tasks created with `mark` in their prompt."""
        return [t for t, task in self.tasks.items() if mark in str(task.body.get("prompt", ""))]

    def _held(self, task: TripoTask) -> bool:
        prompt = str(task.body.get("prompt", ""))
        return any(mark in prompt for mark in set(self.hold_marks))

    def route(self, request: Request) -> Reply:
        if request.path.startswith("/files/"):
            if request.path.endswith(".glb"):
                return Reply(200, GLB, {"Content-Type": "model/gltf-binary"})
            return Reply(200, PNG, {"Content-Type": "image/png"})
        if bearer(request) != self.api_key:
            return Reply.json({"code": 1002, "message": "Authentication failed"}, 401)
        if request.method == "POST" and request.path == "/task":
            body = request.json()
            if body.get("type") not in ("text_to_model", "image_to_model"):
                return Reply.json({"code": 2002, "message": "unsupported type"}, 400)
            task_id = f"tripo-{next(self._ids)}"
            self.tasks[task_id] = TripoTask(body)
            return Reply.json({"code": 0, "data": {"task_id": task_id}})
        if request.method == "POST" and request.path == "/upload":
            if b'name="file"' not in request.body:
                return Reply.json({"code": 2003, "message": "no file"}, 400)
            return Reply.json({"code": 0, "data": {"image_token": "img-token-1"}})
        if request.method == "GET" and request.path.startswith("/task/"):
            task_id = request.path.removeprefix("/task/")
            task = self.tasks.get(task_id)
            if task is None:
                return Reply.json({"code": 2001, "message": "task not found"}, 404)
            task.polls += 1
            if self._held(task):
                data = {"task_id": task_id, "type": task.body["type"], "status": "running"}
                return Reply.json({"code": 0, "data": {**data, "progress": 50}})
            status = "queued" if task.polls == 1 else "running"
            data: dict[str, object] = {
                "task_id": task_id,
                "type": task.body["type"],
                "status": status,
                "progress": 0,
            }
            if task.polls > self.polls_until_done:
                data["status"] = self.final_status
                data["progress"] = 100
                if self.final_status == "success":
                    data["output"] = {
                        "model": f"{self.url}/files/{task_id}/model.glb",
                        "pbr_model": f"{self.url}/files/{task_id}/pbr_model.glb",
                        "rendered_image": f"{self.url}/files/{task_id}/preview.png",
                    }
            return Reply.json({"code": 0, "data": data})
        return Reply.json({"code": 404, "message": "not found"}, 404)
