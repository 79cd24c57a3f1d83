"""Where the credential of the moment comes from: fixed, a token file, or an exec plugin.

`KubeConfig` asks its source every RECHECK_SECONDS (in a thread: a source may
run a plugin) and builds a new source from scratch after a 401. Which one a
kubeconfig user gets follows client-go: a token, token file, username/password
or client certificate in the kubeconfig is used as is, and the exec plugin
runs only when there is none of those.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from devskyy_operator.kube.connection import Credential, KubeConfigError
from devskyy_operator.kube.exec_plugin import ExecResult, ExecSpec, run_plugin
from devskyy_operator.kube.kubeconfig import User
from devskyy_operator.kube.private_files import file_for, private_file

log = logging.getLogger("devskyy.kube")

NO_CERTIFICATE = Credential()

EXPIRY_SKEW = dt.timedelta(minutes=5)  # client-go renews an exec token this far ahead


class CredentialSource(Protocol):
    @property
    def current(self) -> Credential:
        """As loaded or last renewed (no I/O)."""
        ...

    def renewed(self) -> Credential:
        """The credential now, renewed if due (may block: run it in a thread)."""
        ...


@dataclass(frozen=True)
class Fixed:
    current: Credential

    def renewed(self) -> Credential:
        return self.current


class TokenFile:
    """A token read again on every check: projected ServiceAccount tokens rotate on disk.

    Must be readable at load; later, a failed read keeps the last token.
    """

    def __init__(self, path: Path, where: str, certificate: Credential = NO_CERTIFICATE) -> None:
        self._path, self._where, self._certificate = path, where, certificate
        try:
            self._token = self._read()
        except OSError as exc:
            raise KubeConfigError(f"{where}: token file {path}: {exc.strerror}") from None
        if not self._token:
            raise KubeConfigError(f"{where}: token file {path} is empty")

    def _read(self) -> str:
        return self._path.read_text().strip()

    @property
    def current(self) -> Credential:
        return _with_authorization(self._certificate, f"Bearer {self._token}")

    def renewed(self) -> Credential:
        try:
            token = self._read()
        except OSError as exc:
            log.warning(
                "%s: token file %s: %s; keeping the last token",
                self._where,
                self._path,
                exc.strerror,
            )
            token = ""
        self._token = token or self._token
        return self.current


class ExecPlugin:
    """The plugin's last answer, renewed when it expires within EXPIRY_SKEW."""

    def __init__(self, spec: ExecSpec, info: str, where: str) -> None:
        self._spec, self._info, self._where = spec, info, where
        self._result = self._run()
        self.current = _from_exec(self._result)

    def _run(self) -> ExecResult:
        try:
            return run_plugin(self._spec, self._info)
        except KubeConfigError as exc:
            raise KubeConfigError(f"{self._where}: {exc}") from None

    def renewed(self) -> Credential:
        now = dt.datetime.now(dt.UTC)
        if not self._result.due(now, EXPIRY_SKEW):
            return self.current
        try:
            self._result = self._run()
        except KubeConfigError as exc:
            expires = self._result.expires
            if expires is not None and expires <= now:
                raise
            log.warning("%s; keeping the current credential until %s", exc, expires)
            return self.current
        self.current = _from_exec(self._result)
        return self.current


def _from_exec(result: ExecResult) -> Credential:
    certificate = NO_CERTIFICATE
    if result.cert_pem and result.key_pem:
        certificate = Credential(
            cert_file=private_file(result.cert_pem.encode(), ".crt"),
            key_file=private_file(result.key_pem.encode(), ".key"),
        )
    return _with_authorization(certificate, f"Bearer {result.token}" if result.token else None)


def _with_authorization(certificate: Credential, authorization: str | None) -> Credential:
    return Credential(authorization, certificate.cert_file, certificate.key_file)


def user_source(user: User, exec_info: str) -> CredentialSource:
    """The source for a kubeconfig user; `exec_info` is KUBERNETES_EXEC_INFO for its plugin."""
    certificate = Credential(
        cert_file=file_for(
            user.cert_file, user.cert_data, ".crt", f"{user.where}: client-certificate"
        ),
        key_file=file_for(user.key_file, user.key_data, ".key", f"{user.where}: client-key"),
    )
    if user.token_file:
        return TokenFile(user.token_file, user.where, certificate)
    if user.token:
        return Fixed(_with_authorization(certificate, f"Bearer {user.token}"))
    if user.basic:
        pair = base64.b64encode(":".join(user.basic).encode()).decode()
        return Fixed(_with_authorization(certificate, f"Basic {pair}"))
    if certificate.cert_file or user.exec is None:
        return Fixed(certificate)
    return ExecPlugin(user.exec, exec_info, user.where)
