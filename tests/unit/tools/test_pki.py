"""Local CA, device keys and CSRs, signing: what the certificates contain and what is refused."""

from __future__ import annotations

import datetime as dt
import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store

from gateway.tools.pki import (
    create_ca,
    identity_actor,
    identity_bridge,
    identity_gateway,
    identity_operator,
    is_identity,
    make_key_and_csr,
    sign_csr,
)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def load_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def cn(cert: x509.Certificate) -> str:
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def p256_private(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)  # no passphrase at all
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert isinstance(key.curve, ec.SECP256R1)
    return key


@pytest.fixture
def ca(tmp_path: Path) -> tuple[Path, Path]:
    return create_ca(tmp_path / "ca")


def test_identities() -> None:
    assert identity_gateway("zoetermeer-centrum", "gw-0001") == "gw.zoetermeer-centrum.gw-0001"
    assert identity_actor("ambulance") == "actor.ambulance"
    assert identity_operator("jan_b") == "operator.jan_b"
    assert identity_bridge("noord") == "bridge.noord"
    assert all(is_identity(i) for i in ("gw.a.b", "actor.x", "operator.y", "bridge.z"))
    assert not any(
        is_identity(i)
        for i in ("gw.a", "gw.a.b.c", "actor.", "actor.a.b", "bridge.a.b", "admin", "localhost")
    )


@pytest.mark.parametrize("bad", ["", "a+", "#", "a/b", "a b", "a.b", "A", "_a"])
def test_identity_parts_are_slugs(bad: str) -> None:
    with pytest.raises(ValueError, match="must match"):
        identity_gateway(bad, "gw")
    with pytest.raises(ValueError, match="must match"):
        identity_gateway("s", bad)
    with pytest.raises(ValueError, match="must match"):
        identity_actor(bad)
    with pytest.raises(ValueError, match="must match"):
        identity_operator(bad)
    with pytest.raises(ValueError, match="must match"):
        identity_bridge(bad)


def test_identity_fits_a_common_name() -> None:
    with pytest.raises(ValueError, match="64"):
        identity_gateway("s" * 40, "g" * 30)


def test_create_ca(ca: tuple[Path, Path]) -> None:
    cert_path, key_path = ca
    cert, key = load_cert(cert_path), p256_private(key_path)
    assert mode(key_path) == 0o600
    assert mode(cert_path) == 0o644
    assert cn(cert) == "edge-local-ca"
    assert cert.public_key() == key.public_key()
    cert.verify_directly_issued_by(cert)
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert dt.timedelta(days=3650) <= lifetime <= dt.timedelta(days=3650, minutes=10)


def test_key_and_csr(tmp_path: Path) -> None:
    key_path, csr_path = make_key_and_csr(tmp_path / "dev", "gw.site-a.gw-1")
    assert (key_path.name, csr_path.name) == ("gw.site-a.gw-1.key", "gw.site-a.gw-1.csr")
    assert mode(key_path) == 0o600
    csr = x509.load_pem_x509_csr(csr_path.read_bytes())
    assert csr.is_signature_valid
    assert csr.public_key() == p256_private(key_path).public_key()
    assert csr.subject.rfc4514_string() == "CN=gw.site-a.gw-1"


def test_an_existing_key_is_never_overwritten(tmp_path: Path) -> None:
    key_path, _ = make_key_and_csr(tmp_path, "actor.ambulance")
    before = key_path.read_bytes()
    with pytest.raises(FileExistsError):
        make_key_and_csr(tmp_path, "actor.ambulance")
    assert key_path.read_bytes() == before
    with pytest.raises(FileExistsError):
        create_ca(tmp_path, "actor.ambulance")


@pytest.mark.parametrize("bad", ["", "a/b", "../x", "a b", "a+", "#", "x" * 65])
def test_bad_common_names_are_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError, match="common name"):
        make_key_and_csr(tmp_path, bad)
    with pytest.raises(ValueError, match="common name"):
        create_ca(tmp_path, bad)
    assert not any(tmp_path.iterdir())


def test_client_certificate(tmp_path: Path, ca: tuple[Path, Path]) -> None:
    _key, csr = make_key_and_csr(tmp_path, "actor.ambulance")
    out = sign_csr(csr, *ca, tmp_path / "out" / "actor.ambulance.crt", days=30)
    cert, issuer = load_cert(out), load_cert(ca[0])
    cert.verify_directly_issued_by(issuer)
    assert cn(cert) == "actor.ambulance"
    assert cert.issuer == issuer.subject
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH
    ]
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert dt.timedelta(days=30) <= lifetime <= dt.timedelta(days=30, minutes=10)


def test_server_certificate_verifies_for_localhost_and_loopback(
    tmp_path: Path, ca: tuple[Path, Path]
) -> None:
    _key, csr = make_key_and_csr(tmp_path, "broker")
    cert = load_cert(sign_csr(csr, *ca, tmp_path / "broker.crt", server=True))
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH
    ]
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    verifier = (
        PolicyBuilder().store(Store([load_cert(ca[0])])).build_server_verifier(x509.DNSName("localhost"))
    )
    assert verifier.verify(cert, [])[0] == cert


def test_server_certificate_with_other_addresses(tmp_path: Path, ca: tuple[Path, Path]) -> None:
    _key, csr = make_key_and_csr(tmp_path, "broker")
    cert = load_cert(sign_csr(csr, *ca, tmp_path / "broker.crt", server=True, san_ips=["10.0.0.5", "::1"]))
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address(a) for a in ("10.0.0.5", "::1")]


def test_certificates_do_not_outlive_the_ca(tmp_path: Path) -> None:
    ca = create_ca(tmp_path / "ca", days=10)
    _key, csr = make_key_and_csr(tmp_path, "actor.x")
    cert = load_cert(sign_csr(csr, *ca, tmp_path / "x.crt"))
    assert cert.not_valid_after_utc <= load_cert(ca[0]).not_valid_after_utc


def test_a_client_csr_must_name_an_identity(tmp_path: Path, ca: tuple[Path, Path]) -> None:
    _key, csr = make_key_and_csr(tmp_path, "admin")
    with pytest.raises(ValueError, match="not an identity"):
        sign_csr(csr, *ca, tmp_path / "admin.crt")
    assert not (tmp_path / "admin.crt").exists()


def test_the_ca_key_must_match_its_certificate(tmp_path: Path, ca: tuple[Path, Path]) -> None:
    _other_cert, other_key = create_ca(tmp_path / "other")
    _key, csr = make_key_and_csr(tmp_path, "actor.x")
    with pytest.raises(ValueError, match="not the EC key"):
        sign_csr(csr, ca[0], other_key, tmp_path / "x.crt")


def test_only_p256_keys_are_signed(tmp_path: Path, ca: tuple[Path, Path]) -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "actor.x")]))
        .sign(rsa_key, hashes.SHA256())
    )
    path = tmp_path / "rsa.csr"
    path.write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    with pytest.raises(ValueError, match="P-256"):
        sign_csr(path, *ca, tmp_path / "x.crt")


def test_days_must_be_positive(tmp_path: Path, ca: tuple[Path, Path]) -> None:
    _key, csr = make_key_and_csr(tmp_path, "actor.x")
    with pytest.raises(ValueError, match="days"):
        sign_csr(csr, *ca, tmp_path / "x.crt", days=0)
    with pytest.raises(ValueError, match="days"):
        create_ca(tmp_path / "ca2", days=0)


def test_only_the_common_name_is_certified(tmp_path: Path, ca: tuple[Path, Path]) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Gemeente"),
            x509.NameAttribute(NameOID.COMMON_NAME, "actor.ambulance"),
        ]
    )
    path = tmp_path / "x.csr"
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    path.write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    cert = load_cert(sign_csr(path, *ca, tmp_path / "x.crt"))
    assert cert.subject.rfc4514_string() == "CN=actor.ambulance"
