"""The official `kubernetes` client's sides of bench_kube_client.py, in a process of their own.

The project no longer depends on the package (its import alone costs 46 MiB of
RSS), so the bench installs it into a throwaway venv and runs this script
there: one round of the shared workload, its figures as JSON on stdout.

Usage (by the bench): python official_client_side.py aio|sync KUBECONFIG NAMESPACE TASKS
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kube_client_workload import CONCURRENCY, GROUP, PLURAL, STATUS, VERSION, Side, one_round


class OfficialAio:
    def __init__(self, api: Any, client: Any) -> None:
        self.api, self.client = api, client

    @classmethod
    async def open(cls, kubeconfig: str) -> OfficialAio:
        from kubernetes.aio import client, config

        configuration = client.Configuration()
        configuration.connection_pool_maxsize = CONCURRENCY
        await config.load_kube_config(kubeconfig, client_configuration=configuration)
        api_client = client.ApiClient(configuration)
        return cls(client.CustomObjectsApi(api_client), api_client)

    async def create(self, namespace: str, body: dict[str, Any]) -> None:
        await self.api.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)

    async def get(self, namespace: str, name: str) -> None:
        await self.api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)

    async def patch_status(self, namespace: str, name: str) -> None:
        await self.api.patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, PLURAL, name, STATUS
        )

    async def close(self) -> None:
        await self.client.close()


class OfficialSync:
    def __init__(self, kubeconfig: str) -> None:
        from kubernetes import client, config

        configuration = client.Configuration()
        configuration.connection_pool_maxsize = CONCURRENCY
        config.load_kube_config(kubeconfig, client_configuration=configuration)
        self.client = client.ApiClient(configuration)
        self.api = client.CustomObjectsApi(self.client)
        self.pool = ThreadPoolExecutor(CONCURRENCY)

    async def _run(self, call: Callable[..., Any], *args: Any) -> None:
        await asyncio.get_running_loop().run_in_executor(self.pool, call, *args)

    async def create(self, namespace: str, body: dict[str, Any]) -> None:
        create = self.api.create_namespaced_custom_object
        await self._run(create, GROUP, VERSION, namespace, PLURAL, body)

    async def get(self, namespace: str, name: str) -> None:
        get = self.api.get_namespaced_custom_object
        await self._run(get, GROUP, VERSION, namespace, PLURAL, name)

    async def patch_status(self, namespace: str, name: str) -> None:
        await self._run(
            self.api.patch_namespaced_custom_object_status,
            GROUP, VERSION, namespace, PLURAL, name, STATUS,
        )  # fmt: skip

    async def close(self) -> None:
        self.pool.shutdown()
        self.client.close()


async def run(side_name: str, kubeconfig: str, namespace: str, tasks: int) -> None:
    side: Side = (
        await OfficialAio.open(kubeconfig) if side_name == "aio" else OfficialSync(kubeconfig)
    )
    try:
        result = await one_round(side, namespace, tasks)
    finally:
        await side.close()
    print(json.dumps(result))


if __name__ == "__main__":
    name, path, ns, count = sys.argv[1:5]
    asyncio.run(run(name, path, ns, int(count)))
