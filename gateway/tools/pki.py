"""Device keys, CSRs and a local CA: the X.509 material behind mutual TLS to the broker.

Every MQTT client authenticates with a client certificate; the broker runs with
`use_identity_as_username true`, so the certificate's common name *is* the MQTT username the ACL
(`gateway.tools.acl`) grants topics to. Names are therefore part of the security contract:

| who       | common name (MQTT identity) | helper                               |
|-----------|-----------------------------|--------------------------------------|
| gateway   | `gw.<site>.<gateway>`       | `identity_gateway(site, gateway)`    |
| actor     | `actor.<name>`              | `identity_actor(name)`               |
| operator  | `operator.<name>`           | `identity_operator(name)`            |
| bridge    | `bridge.<district>`         | `identity_bridge(district)`          |

Each part is a slug `[a-z0-9][a-z0-9_-]*` (as in the gateway config): no `+`, `#`, `/`, `.`, quotes or
whitespace, so an identity cannot smuggle an MQTT wildcard or a topic level into an ACL rule, and
`gw.<site>.<gateway>` always splits one way. A common name is at most 64 characters (RFC 5280).

Keys are EC P-256. Private keys are written unencrypted with mode 0600 (the broker and the gateway read
them unattended; there is no passphrase, and so no default passphrase, anywhere) and an existing key is
never overwritten: replacing a device's identity is a deliberate act (delete the file first).

`create_ca` is for the simulator and the tests only; a real deployment signs the CSRs from
`make_key_and_csr` with the municipality's own CA.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
from pathlib import Path
from typing import NotRequired, TypedDict, Unpack

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SLUG = re.compile(r"[a-z0-9][a-z0-9_-]*")
MAX_CN = 64  # RFC 5280 ub-common-name
IDENTITY = re.compile(
    r"gw\.[a-z0-9][a-z0-9_-]*\.[a-z0-9][a-z0-9_-]*|(actor|operator|bridge)\.[a-z0-9][a-z0-9_-]*"
)
# Certificates start slightly in the past so a device whose clock lags the CA's still accepts them.
BACKDATE = dt.timedelta(minutes=5)


def check_name(what: str, name: str) -> str:
    """Return `name` if it is a slug usable in identities and topics, else raise ValueError."""
    if SLUG.fullmatch(name) is None:
        raise ValueError(
            f"{what} {name!r}: must match [a-z0-9][a-z0-9_-]* (no '+', '#', '/', '.', quotes or whitespace)"
        )
    return name


def _identity(common_name: str) -> str:
    if len(common_name) > MAX_CN:
        raise ValueError(f"identity {common_name!r}: longer than {MAX_CN} characters")
    return common_name


def identity_gateway(site: str, gateway: str) -> str:
    """The MQTT identity (certificate CN) of one gateway: `gw.<site>.<gateway>`."""
    return _identity(f"gw.{check_name('site', site)}.{check_name('gateway', gateway)}")


def identity_actor(name: str) -> str:
    """The MQTT identity of an actor (an integrator reading its projection): `actor.<name>`."""
    return _identity(f"actor.{check_name('actor', name)}")


def identity_operator(name: str) -> str:
    """The MQTT identity of an operator (reads everything, sends commands): `operator.<name>`."""
    return _identity(f"operator.{check_name('operator', name)}")


def identity_bridge(district: str) -> str:
    """The MQTT identity of a district broker's bridge to the central one: `bridge.<district>`."""
    return _identity(f"bridge.{check_name('district', district)}")


def is_identity(common_name: str) -> bool:
    """True if `common_name` is a well-formed gateway, actor or operator identity."""
    return len(common_name) <= MAX_CN and IDENTITY.fullmatch(common_name) is not None


class SignOptions(TypedDict):
    """Keyword options of `sign_csr`."""

    days: NotRequired[int]
    server: NotRequired[bool]
    san_ips: NotRequired[list[str] | None]


def _write_private_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # O_EXCL: never replace an existing identity; 0600 from the first byte, not chmod afterwards.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        os.fchmod(out.fileno(), 0o600)
        out.write(pem)


def _write_public(path: Path, pem: bytes) -> None:
    path.write_bytes(pem)
    path.chmod(0o644)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _check_cn(common_name: str) -> str:
    # The CN also names the files, so it must be one path component and no wildcard.
    if not common_name or len(common_name) > MAX_CN or re.search(r"[\s/+#\"\\]", common_name):
        raise ValueError(f"common name {common_name!r}: 1-{MAX_CN} characters, no '/', '+', '#' or spaces")
    return common_name


def _check_days(days: int) -> int:
    if days < 1:
        raise ValueError(f"days {days}: a certificate must be valid for at least one day")
    return days


def create_ca(directory: Path, name: str = "edge-local-ca", days: int = 3650) -> tuple[Path, Path]:
    """Create a self-signed local CA (simulator and tests only); return (cert, key) paths."""
    _check_cn(name)
    _check_days(days)
    directory.mkdir(parents=True, exist_ok=True)
    key = _new_key()
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(_name(name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_path, cert_path = directory / f"{name}.key", directory / f"{name}.crt"
    _write_private_key(key_path, key)
    _write_public(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def make_key_and_csr(directory: Path, common_name: str) -> tuple[Path, Path]:
    """Create a device key (`<cn>.key`, 0600) and CSR (`<cn>.csr`) whose CN is the MQTT identity."""
    _check_cn(common_name)
    directory.mkdir(parents=True, exist_ok=True)
    key = _new_key()
    csr = x509.CertificateSigningRequestBuilder().subject_name(_name(common_name)).sign(key, hashes.SHA256())
    key_path, csr_path = directory / f"{common_name}.key", directory / f"{common_name}.csr"
    _write_private_key(key_path, key)
    _write_public(csr_path, csr.public_bytes(serialization.Encoding.PEM))
    return key_path, csr_path


def _key_usage(ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _is_p256(public: object) -> bool:
    return isinstance(public, ec.EllipticCurvePublicKey) and isinstance(public.curve, ec.SECP256R1)


def _load_ca(ca_cert: Path, ca_key: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert = x509.load_pem_x509_certificate(ca_cert.read_bytes())
    key = serialization.load_pem_private_key(ca_key.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != cert.public_key():
        raise ValueError(f"{ca_key}: not the EC key of {ca_cert}")
    return cert, key


def _load_csr(csr_path: Path, server: bool) -> tuple[x509.CertificateSigningRequest, str]:
    csr = x509.load_pem_x509_csr(csr_path.read_bytes())
    if not csr.is_signature_valid:
        raise ValueError(f"{csr_path}: the CSR's signature does not match its key")
    if not _is_p256(csr.public_key()):
        raise ValueError(f"{csr_path}: the key must be EC P-256")
    names = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    cn = str(names[0].value) if len(names) == 1 else ""
    if not server and not is_identity(cn):
        raise ValueError(
            f"{csr_path}: common name {cn!r} is not an identity (gw.<site>.<gateway>, actor.<name>, "
            "operator.<name>, bridge.<district>)"
        )
    return csr, _check_cn(cn)


def _san(server: bool, san_ips: list[str] | None) -> x509.SubjectAlternativeName:
    ips = ["127.0.0.1"] if server and san_ips is None else san_ips or []
    entries: list[x509.GeneralName] = [x509.DNSName("localhost")] if server else []
    entries += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    return x509.SubjectAlternativeName(entries)


def sign_csr(csr_path: Path, ca_cert: Path, ca_key: Path, out: Path, **options: Unpack[SignOptions]) -> Path:
    """Sign a CSR with the CA; write the certificate to `out` and return it.

    Options: `days` (825), `server` (False: a client certificate with clientAuth whose CN must be an
    identity; True: a broker certificate with serverAuth and SAN DNS localhost plus `san_ips`,
    default 127.0.0.1).
    """
    days, server = _check_days(options.get("days", 825)), options.get("server", False)
    csr, common_name = _load_csr(csr_path, server)
    issuer, key = _load_ca(ca_cert, ca_key)
    now = dt.datetime.now(dt.UTC)
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))  # the CN only: nothing else a CSR asks for is vouched for
        .issuer_name(issuer.subject)
        .public_key(csr.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(min(now + dt.timedelta(days=days), issuer.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(csr.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
    )
    san_ips = options.get("san_ips")
    if server or san_ips:
        builder = builder.add_extension(_san(server, san_ips), critical=False)
    out.parent.mkdir(parents=True, exist_ok=True)
    _write_public(out, builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
    return out
