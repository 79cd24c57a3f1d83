"""Certificates and keys of the local cluster: one CA and what it signs.

The apiserver's serving cert (loopback, the host end of the node link and the
`kubernetes` Service names and VIP, so pods verify it as in-cluster clients
do), the service-account signing keys, and the node's certificates: the
kubelet's serving cert, x509 client certs for the kubelet (system:node:<name>,
for the Node authorizer), kube-proxy, CoreDNS, and the apiserver's own client
cert for calling the kubelet API (logs, exec, port-forward).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = dt.timedelta(days=30)
APISERVER_KUBELET_CLIENT = "devskyy:apiserver-kubelet-client"
COREDNS_USER = "devskyy:coredns"
KUBE_PROXY_USER = "system:kube-proxy"  # bound to system:node-proxier by default


@dataclass(frozen=True)
class ClusterPki:
    directory: Path
    ca_cert: Path
    ca_key: Path
    serving_cert: Path
    serving_key: Path
    sa_key: Path
    sa_pub: Path

    def cert(self, name: str) -> Path:
        return self.directory / f"{name}.crt"

    def key(self, name: str) -> Path:
        return self.directory / f"{name}.key"


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _write_key(key: rsa.RSAPrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _name(common_name: str, organizations: Sequence[str] = ()) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    return x509.Name([*attributes, x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _ca_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        key_cert_sign=True,
        crl_sign=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        encipher_only=False,
        decipher_only=False,
    )


def _load_ca(pki: ClusterPki) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    cert = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
    key = serialization.load_pem_private_key(pki.ca_key.read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return cert, key


def _sign(
    pki: ClusterPki,
    subject: x509.Name,
    usage: x509.ObjectIdentifier,
    dns_names: Sequence[str] = (),
    ips: Sequence[str] = (),
) -> tuple[bytes, bytes]:
    """A certificate signed by the cluster CA, and its key: (cert PEM, key PEM)."""
    ca, ca_key = _load_ca(pki)
    key = _key()
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    names: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    names += [x509.IPAddress(ipaddress.ip_address(a)) for a in ips]
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def _issue(
    pki: ClusterPki,
    name: str,
    subject: x509.Name,
    usage: x509.ObjectIdentifier,
    dns_names: Sequence[str] = (),
    ips: Sequence[str] = (),
) -> None:
    cert, key = _sign(pki, subject, usage, dns_names, ips)
    pki.cert(name).write_bytes(cert)
    pki.key(name).write_bytes(key)
    pki.key(name).chmod(0o600)


def issue_serving_cert(
    pki: ClusterPki, name: str, common_name: str, dns_names: Sequence[str], ips: Sequence[str]
) -> None:
    _issue(pki, name, _name(common_name), ExtendedKeyUsageOID.SERVER_AUTH, dns_names, ips)


def issue_client_cert(pki: ClusterPki, name: str, user: str, groups: Sequence[str] = ()) -> None:
    """A client cert: the apiserver reads the user from CN and groups from O."""
    _issue(pki, name, _name(user, groups), ExtendedKeyUsageOID.CLIENT_AUTH)


def client_certificate(pki: ClusterPki, user: str, groups: Sequence[str] = ()) -> tuple[str, str]:
    """A client certificate for `user` in `groups` (O=), signed by the cluster CA: PEM cert, key."""
    cert, key = _sign(pki, _name(user, groups), ExtendedKeyUsageOID.CLIENT_AUTH)
    return cert.decode(), key.decode()


def create_pki(
    directory: Path, service_ip: str = "10.96.0.1", extra_ips: Sequence[str] = ()
) -> ClusterPki:
    """Write a CA, the apiserver serving cert, and the service-account signing keys."""
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = _key()
    ca_name = _name("devskyy-local-ca")
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_ca_usage(), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    pki = ClusterPki(
        directory=directory,
        ca_cert=directory / "ca.crt",
        ca_key=directory / "ca.key",
        serving_cert=directory / "apiserver.crt",
        serving_key=directory / "apiserver.key",
        sa_key=directory / "sa.key",
        sa_pub=directory / "sa.pub",
    )
    pki.ca_cert.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    _write_key(ca_key, pki.ca_key)
    issue_serving_cert(
        pki,
        "apiserver",
        "kube-apiserver",
        [
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        ],
        ["127.0.0.1", service_ip, *extra_ips],
    )
    sa_key = _key()
    _write_key(sa_key, pki.sa_key)
    pki.sa_pub.write_bytes(
        sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return pki
