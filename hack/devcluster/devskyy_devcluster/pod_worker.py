"""One pod's life on the local node: prepare, run containers, report, terminate."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from devskyy_devcluster.pod_env import (
    IMAGE_USER,
    ConfigError,
    NodeContext,
    PodEnvironment,
    image_paths,
)
from devskyy_devcluster.pod_status import (
    ContainerState,
    build_pod_status,
    read_termination_message,
)
from devskyy_devcluster.sandbox import Mount, RootEntry, SandboxSpec, bwrap_argv
from devskyy_operator.kube.client import ApiError, KubeClient, resource_path
from devskyy_operator.kube.errors import NotFound

log = logging.getLogger("devskyy.node")
MAX_GRACE_SECONDS = 30


def _now() -> datetime:
    return datetime.now(UTC)


class PodWorker:
    """Runs the containers of one pod as sandboxed processes and reports status."""

    def __init__(
        self,
        kube: KubeClient,
        pod: Mapping[str, Any],
        node: NodeContext,
        roots: Sequence[RootEntry],
    ):
        self.kube = kube
        self.pod = pod
        self.node = node
        self.roots = roots
        meta = pod["metadata"]
        self.name: str = meta["name"]
        self.namespace: str = meta["namespace"]
        self.uid: str = meta["uid"]
        self.spec: Mapping[str, Any] = pod["spec"]
        self.restart_policy: str = self.spec.get("restartPolicy", "Always")
        self.pod_dir = node.state_dir / "pods" / self.uid
        self.started_at = _now()
        self.containers = [
            ContainerState(c["name"], c.get("image", "")) for c in self.spec["containers"]
        ]
        self.init_containers = [
            ContainerState(c["name"], c.get("image", ""))
            for c in self.spec.get("initContainers") or []
        ]
        self.processes: dict[str, asyncio.subprocess.Process] = {}
        self.terminating = asyncio.Event()
        self.grace = MAX_GRACE_SECONDS
        self.phase_override: str | None = None
        self.reason: str | None = None
        self.message: str | None = None
        self._report_lock = asyncio.Lock()
        self._volumes: dict[str, Path] = {}
        self._env: PodEnvironment | None = None

    @property
    def path(self) -> str:
        return resource_path("v1", "pods", self.namespace, self.name)

    def request_termination(self, grace_seconds: int | None) -> None:
        if grace_seconds is not None:
            self.grace = max(0, min(grace_seconds, MAX_GRACE_SECONDS))
        self.terminating.set()

    # ----------------------------------------------------------------- lifecycle

    async def run(self) -> None:
        try:
            await self._run()
        except asyncio.CancelledError:
            await self._kill_all(0)
            raise
        except Exception:
            log.exception("pod %s/%s: node agent error", self.namespace, self.name)
            await self._kill_all(0)

    async def _run(self) -> None:
        await self.report()
        if not await self._prepare():
            return await self._finish_terminating()
        for index, spec in enumerate(self.spec.get("initContainers") or []):
            code = await self._run_once(spec, self.init_containers[index])
            if self.terminating.is_set():
                return await self._finish_terminating()
            if code != 0 and self.restart_policy == "Never":
                self.phase_override = "Failed"
                return await self.report()
        runners = [
            asyncio.create_task(self._run_container(spec, state))
            for spec, state in zip(self.spec["containers"], self.containers, strict=True)
        ]
        done_waiter: asyncio.Future[list[None]] = asyncio.gather(*runners)
        stop_waiter: asyncio.Future[bool] = asyncio.ensure_future(self.terminating.wait())
        deadline = self.spec.get("activeDeadlineSeconds")
        timeout = None if deadline is None else max(0.0, float(deadline) - self._age())
        waiters: set[asyncio.Future[Any]] = {done_waiter, stop_waiter}
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if done_waiter.done():
            stop_waiter.cancel()
            return
        if not self.terminating.is_set():  # the pod's own activeDeadlineSeconds passed
            self.phase_override, self.reason = "Failed", "DeadlineExceeded"
            self.message = "Pod was active on the node longer than the specified deadline"
            self.grace = 0
        await self._kill_all(self.grace)
        await done_waiter
        stop_waiter.cancel()
        if self.terminating.is_set():
            return await self._finish_terminating()
        await self.report()

    def _age(self) -> float:
        return (_now() - self.started_at).total_seconds()

    async def _prepare(self) -> bool:
        """Resolve volumes and env; retry config errors like a kubelet does."""
        self._env = PodEnvironment(self.kube, self.pod, self.node)
        owner = self._owner()
        while not self.terminating.is_set():
            try:
                self._volumes = await self._env.materialise_volumes(self.pod_dir, owner)
                return True
            except ConfigError as exc:
                for state in self.containers:
                    state.reason, state.message = "CreateContainerConfigError", str(exc)
                await self.report()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.terminating.wait(), 2.0)
        return False

    def _owner(self) -> tuple[int, int]:
        context = self.spec.get("securityContext") or {}
        uid = int(context.get("runAsUser", IMAGE_USER))
        gid = int(context.get("fsGroup", context.get("runAsGroup", uid)))
        return uid, gid

    # ----------------------------------------------------------------- containers

    async def _run_container(self, spec: Mapping[str, Any], state: ContainerState) -> None:
        backoff = 1.0
        while True:
            code = await self._run_once(spec, state)
            if self.terminating.is_set() or self.restart_policy == "Never":
                return
            if self.restart_policy == "OnFailure" and code == 0:
                return
            state.last_terminated = state.terminated_doc()
            state.restart_count += 1
            state.phase, state.reason = "waiting", "CrashLoopBackOff"
            await self.report()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.terminating.wait(), backoff)
            if self.terminating.is_set():
                return
            backoff = min(backoff * 2, 30.0)

    async def _run_once(self, spec: Mapping[str, Any], state: ContainerState) -> int:
        assert self._env is not None
        try:
            env = await self._env.container_env(spec)
        except ConfigError as exc:
            state.phase, state.reason, state.message = (
                "waiting",
                "CreateContainerConfigError",
                str(exc),
            )
            await self.report()
            await asyncio.sleep(2.0)
            return await self._run_once(spec, state) if not self.terminating.is_set() else 1
        name = spec["name"]
        work = self.pod_dir / "containers" / name
        work.mkdir(parents=True, exist_ok=True)
        termination = work / "termination-log"
        termination.write_bytes(b"")
        uid, gid = self._container_user(spec)
        if os.geteuid() == 0:
            os.chown(termination, uid, gid)
        argv = [*(spec.get("command") or []), *(spec.get("args") or [])]
        if not argv:
            state.phase, state.reason, state.message = "terminated", "StartError", "no command"
            state.exit_code = 128
            await self.report()
            return 128
        context = spec.get("securityContext") or {}
        sandbox = SandboxSpec(
            argv=[_expand(a, env) for a in argv],
            image_paths=image_paths(),
            mounts=self._mounts(spec),
            termination_file=termination,
            termination_path=spec.get("terminationMessagePath") or "/dev/termination-log",
            working_dir=spec.get("workingDir"),
            uid=uid,
            gid=gid,
            read_only_root=bool(context.get("readOnlyRootFilesystem", False)),
        )
        log_path = self.node.state_dir / "logs" / f"{self.namespace}_{self.name}_{name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log_file:
            process = await asyncio.create_subprocess_exec(
                *bwrap_argv(sandbox, self.roots),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_file,
                stderr=asyncio.subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        self.processes[name] = process
        state.phase, state.reason, state.message, state.exit_code = "running", "", None, None
        state.started_at, state.finished_at = _now(), None
        state.container_id = f"local://{uuid.uuid4().hex}"
        state.ready = spec.get("readinessProbe") is None
        await self.report()
        probe = asyncio.create_task(self._probe(spec, state)) if not state.ready else None
        returncode = await process.wait()
        if probe:
            probe.cancel()
        self.processes.pop(name, None)
        code = returncode if returncode >= 0 else 128 - returncode
        fallback = None
        if spec.get("terminationMessagePolicy") == "FallbackToLogsOnError" and code != 0:
            fallback = log_path.read_text(errors="replace")[-2048:]
        state.phase, state.exit_code, state.finished_at, state.ready = (
            "terminated",
            code,
            _now(),
            False,
        )
        state.reason = "Completed" if code == 0 else "Error"
        state.message = read_termination_message(termination, fallback)
        await self.report()
        return code

    def _container_user(self, spec: Mapping[str, Any]) -> tuple[int, int]:
        pod_ctx = self.spec.get("securityContext") or {}
        ctx = spec.get("securityContext") or {}
        uid = int(ctx.get("runAsUser", pod_ctx.get("runAsUser", IMAGE_USER)))
        gid = int(ctx.get("runAsGroup", pod_ctx.get("runAsGroup", uid)))
        return uid, gid

    def _mounts(self, spec: Mapping[str, Any]) -> list[Mount]:
        mounts = []
        for mount in spec.get("volumeMounts") or []:
            source = self._volumes[mount["name"]]
            if mount.get("subPath"):
                source = _sub_path(source, mount["subPath"])
            mounts.append(Mount(source, mount["mountPath"], bool(mount.get("readOnly", False))))
        return mounts

    async def _probe(self, spec: Mapping[str, Any], state: ContainerState) -> None:
        """Readiness: httpGet or tcpSocket against loopback (pods share the host network)."""
        probe = spec["readinessProbe"]
        period = float(probe.get("periodSeconds", 10))
        await asyncio.sleep(float(probe.get("initialDelaySeconds", 0)))
        # Kubelets do not verify certificates of HTTPS probes either.
        timeout = float(probe.get("timeoutSeconds", 1))
        ports = {p["name"]: int(p["containerPort"]) for p in spec.get("ports") or [] if "name" in p}
        async with httpx.AsyncClient(timeout=timeout, verify=False) as http:  # noqa: S501
            while True:
                ready = await _check_probe(http, probe, ports)
                if ready != state.ready:
                    state.ready = ready
                    await self.report()
                await asyncio.sleep(min(period, 1.0) if not ready else period)

    # ----------------------------------------------------------------- termination

    async def _kill_all(self, grace: float) -> None:
        processes = list(self.processes.values())
        for process in processes:
            _signal_group(process, signal.SIGTERM)
        if processes and grace > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*(p.wait() for p in processes)), grace)
        for process in processes:
            _signal_group(process, signal.SIGKILL)
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                await process.wait()

    async def _finish_terminating(self) -> None:
        """Containers are gone: report them, then remove the pod object (grace 0)."""
        await self._kill_all(self.grace)
        await self.report()
        body = {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "gracePeriodSeconds": 0,
            "preconditions": {"uid": self.uid},
        }
        with contextlib.suppress(ApiError):
            await self.kube.request("DELETE", self.path, body=body)

    # ----------------------------------------------------------------- status

    async def report(self) -> None:
        status = build_pod_status(
            self.containers,
            self.init_containers,
            self.restart_policy,
            self.started_at,
            _now(),
            phase_override=self.phase_override,
            reason=self.reason,
            message=self.message,
        )
        async with self._report_lock:
            try:
                await self.kube.patch(f"{self.path}/status", {"status": status}, "merge")
            except NotFound:
                pass  # the pod is gone: nobody reads its status any more
            except ApiError as exc:
                log.warning("pod %s/%s: status update failed: %s", self.namespace, self.name, exc)
            except httpx.HTTPError as exc:
                log.warning("pod %s/%s: status update failed: %r", self.namespace, self.name, exc)


def _probe_port(port: int | str, named: Mapping[str, int]) -> int:
    """A probe port is a number or the name of one of the container's ports."""
    if isinstance(port, str) and not port.isdigit():
        return named[port]
    return int(port)


async def _check_probe(
    http: httpx.AsyncClient, probe: Mapping[str, Any], named: Mapping[str, int]
) -> bool:
    try:
        if "httpGet" in probe:
            get = probe["httpGet"]
            scheme = str(get.get("scheme", "HTTP")).lower()
            port = _probe_port(get["port"], named)
            response = await http.get(f"{scheme}://127.0.0.1:{port}{get.get('path', '/')}")
            return 200 <= response.status_code < 400
        if "tcpSocket" in probe:
            port = _probe_port(probe["tcpSocket"]["port"], named)
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return True
    except (OSError, KeyError, httpx.HTTPError, httpx.InvalidURL):
        return False
    return True


def _signal_group(process: asyncio.subprocess.Process, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def _expand(value: str, env: Mapping[str, str]) -> str:
    for key, replacement in env.items():
        value = value.replace(f"$({key})", replacement)
    return value


def _sub_path(volume: Path, sub_path: str) -> Path:
    """The kubelet's subPath: created when missing, with the volume root's mode.

    The apiserver already refuses absolute subPaths and `..`; a symlink inside
    the volume must not lead out of it either.
    """
    source = volume / sub_path
    if not source.exists():
        source.mkdir(parents=True, exist_ok=True)
        source.chmod(volume.stat().st_mode & 0o7777)
    if not source.resolve().is_relative_to(volume.resolve()):
        raise ValueError(f"subPath {sub_path!r} leaves its volume")
    return source
