"""devskyy-api stopped as Kubernetes stops it: SIGTERM with requests in flight.

The requests in flight finish (202, the task in Redis), the port closes for new
ones, and the process exits 0 - not -15, which uvicorn's own re-raise of the
signal would make of it - with no ERROR line and one INFO line.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import auth
from tests.api.live_server import running_api
from tests.support.redis_server import RedisServer
from tests.support.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

IN_FLIGHT = 3


def blocked_clients(server: RedisServer) -> int:
    with server.client() as client:
        return int(client.info("clients")["blocked_clients"])


async def test_sigterm_with_requests_in_flight_finishes_them_and_exits_0(
    own_redis: RedisServer, tmp_path: Path
) -> None:
    log_path = tmp_path / "api.log"
    with running_api(own_redis.url, log_path=log_path) as live:
        control = own_redis.client()
        # Writes wait in Redis until unpaused (under the API's 5 s socket timeout):
        # each request below is inside the API, parked on its enqueue, when SIGTERM comes.
        control.execute_command("CLIENT", "PAUSE", "4000", "WRITE")
        async with httpx.AsyncClient(base_url=live.url, timeout=15) as client:
            body = {"type": "diagnostic", "input": {"user_id": "alice"}}
            requests = []
            for n in range(1, IN_FLIGHT + 1):  # one at a time, so each is seen arriving
                requests.append(
                    asyncio.ensure_future(
                        client.post(
                            f"/v1/tasks?task_id=inflight-{n}", json=body, headers=auth("alice")
                        )
                    )
                )
                await eventually(
                    lambda n=n: asyncio.to_thread(lambda: blocked_clients(own_redis) >= n),
                    timeout=5, interval=0.02, what=f"request {n} parked in Redis",
                )  # fmt: skip
            log_offset = len(live.log())
            live.process.send_signal(signal.SIGTERM)

            async def refused() -> bool:
                try:
                    async with httpx.AsyncClient(base_url=live.url, timeout=1) as fresh:
                        await fresh.get("/healthz")
                except httpx.ConnectError:
                    return True
                return False

            await eventually(refused, timeout=5, interval=0.02, what="the port to close")
            assert live.process.poll() is None  # still finishing the requests in flight
            control.execute_command("CLIENT", "UNPAUSE")
            responses = await asyncio.gather(*requests)
        code = await asyncio.to_thread(live.process.wait, 30)
        assert [r.status_code for r in responses] == [202] * IN_FLIGHT
        for n in range(1, IN_FLIGHT + 1):
            assert control.hget(f"devskyy:tasks:inflight-{n}", "status") == "pending"
        control.close()
        lines = live.log()[log_offset:].splitlines()
    assert code == 0, "\n".join(lines)
    assert not [line for line in lines if " - ERROR - " in line], "\n".join(lines)
    stopped = [line for line in lines if "devskyy api stopped on SIGTERM" in line]
    assert len(stopped) == 1, "\n".join(lines)
    assert " - INFO - " in stopped[0]


async def test_sigterm_when_idle_exits_0(own_redis: RedisServer, tmp_path: Path) -> None:
    with running_api(own_redis.url, log_path=tmp_path / "api.log") as live:
        live.process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(live.process.wait, 30) == 0
        assert "devskyy api stopped on SIGTERM" in live.log()
