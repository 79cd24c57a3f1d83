"""kopf logs in with the configuration our own client resolved (one source of truth).

kopf calls the login handler at startup and again when its credential was
refused (401) or expired; the second time we hand it a freshly loaded one, not
the credential it just gave back.
"""

from __future__ import annotations

import kopf

from devskyy_operator.kube.config import Credential, KubeConfig


def connection_info(config: KubeConfig, credential: Credential) -> kopf.ConnectionInfo:
    endpoint = config.endpoint
    scheme, token = credential.scheme_and_token
    return kopf.ConnectionInfo(
        server=endpoint.server,
        ca_path=endpoint.ca_file,
        insecure=endpoint.insecure,
        scheme=scheme,
        token=token,
        certificate_path=credential.cert_file,
        private_key_path=credential.key_file,
        default_namespace=endpoint.namespace,
        proxy_url=endpoint.proxy,  # proxy-url or the environment's, resolved once
    )


class KopfLogin:
    """Remembers what kopf was given, so a second call means "that one was refused"."""

    def __init__(self) -> None:
        self.given: Credential | None = None

    async def __call__(self, config: KubeConfig) -> kopf.ConnectionInfo:
        if self.given is None:
            credential = await config.current()
        else:
            credential = await config.refresh(self.given)
        self.given = credential
        return connection_info(config, credential)
