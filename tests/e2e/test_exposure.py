"""Exposure is a decision: `neuroscale up` beyond loopback needs TLS or `--insecure-http`; with TLS the portal
serves HTTPS, its login link works and its session cookie is `Secure`."""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from neuroscale.supervisor.settings import PlatformSettings
from tests.conftest import free_port

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "neuroscale test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def _up(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "neuroscale", "up", "--home", str(home), *args],
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10"])
def test_a_network_address_without_tls_is_refused_before_anything_starts(tmp_path: Path, host: str) -> None:
    home = tmp_path / "home"
    result = _up(home, "--host", host, "--portal-port", str(free_port()), "--gateway-port", str(free_port()))
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"refusing to listen on {host}" in result.stderr and "--tls-cert" in result.stderr
    assert "--insecure-http" in result.stderr and "Traceback" not in result.stderr
    assert not (home / "run").exists(), "nothing may start"


def test_tls_options_are_checked(tmp_path: Path, certificate: tuple[Path, Path]) -> None:
    cert, _ = certificate
    lone = _up(tmp_path / "a", "--tls-cert", str(cert))
    assert lone.returncode == 1 and "go together" in lone.stderr
    missing = _up(tmp_path / "b", "--tls-cert", str(cert), "--tls-key", str(tmp_path / "nope.pem"))
    assert missing.returncode == 1 and "nope.pem is not a readable file" in missing.stderr


@pytest.mark.parametrize(("settings", "warned"), [
    (PlatformSettings(), []),
    (PlatformSettings(host="localhost"), []),
    (PlatformSettings(host="0.0.0.0", insecure_http=True), ["reachable from the network", "unencrypted",
                                                            "gateway serves predictions over plain HTTP"]),
    (PlatformSettings(host="10.1.2.3", tls_cert="c", tls_key="k"), ["reachable from the network",
                                                                    "gateway serves predictions"]),
])
def test_listening_beyond_loopback_always_warns(settings: PlatformSettings, warned: list[str]) -> None:
    warnings = settings.exposure_warnings()
    assert len(warnings) == len(warned) and all(w in text for w, text in zip(warned, warnings, strict=True))


def test_settings_pass_hosts_tls_and_sign_in_to_the_portal() -> None:
    settings = PlatformSettings(host="0.0.0.0", allowed_hosts=("ml.example.com",), tls_cert="c.pem", tls_key="k.pem",
                                oidc_issuer="https://id.example.com", oidc_client_id="ns", oidc_default_role="viewer")
    assert settings.portal_args() == ["--allowed-host", "ml.example.com", "--tls-cert", "c.pem", "--tls-key", "k.pem",
                                      "--oidc-issuer", "https://id.example.com", "--oidc-client-id", "ns",
                                      "--oidc-username-claim", "preferred_username", "--oidc-default-role", "viewer"]
    assert settings.portal_url == "https://127.0.0.1:7010" and settings.gateway_url == "http://127.0.0.1:8080"


@pytest.fixture()
def tls_platform(tmp_path: Path, certificate: tuple[Path, Path]) -> Iterator[tuple[Path, int, Path]]:
    """`neuroscale up` on loopback with TLS; its output (with the login link) goes to a file."""
    cert, key = certificate
    home, portal, out = tmp_path / "home", free_port(), tmp_path / "up.out"
    argv = [sys.executable, "-m", "neuroscale", "up", "--home", str(home), "--portal-port", str(portal),
            "--gateway-port", str(free_port()), "--tls-cert", str(cert), "--tls-key", str(key)]
    with out.open("wb") as sink:
        process = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True,
                                   env={**os.environ, "COLUMNS": "200"})
    try:
        deadline = time.monotonic() + 60
        while "NeuroScale is up" not in out.read_text(errors="replace"):
            assert process.poll() is None and time.monotonic() < deadline, out.read_text(errors="replace")
            time.sleep(0.1)
        yield home, portal, out
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_with_tls_the_login_link_works_and_the_cookie_is_secure(tls_platform: tuple[Path, int, Path],
                                                                certificate: tuple[Path, Path]) -> None:
    home, portal, out = tls_platform
    cert, _ = certificate
    link = re.search(rf"https://127\.0\.0\.1:{portal}/login\?token=nsl_[A-Za-z0-9_-]+", out.read_text())
    assert link, out.read_text()
    assert oct((home / "admin.token").stat().st_mode & 0o777) == "0o600"
    with httpx.Client(verify=ssl.create_default_context(cafile=str(cert)), timeout=30.0) as browser:
        landed = browser.get(link.group(0))
        cookie = landed.headers["set-cookie"].lower()
        assert landed.status_code == 200 and "secure" in cookie and "samesite=strict" in cookie
        assert browser.get(f"https://127.0.0.1:{portal}/api/me").json() == {"name": "admin", "role": "admin"}
        again = browser.get(link.group(0))
        assert again.status_code == 401  # the link was one-time
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{portal}/healthz", timeout=5.0)  # no plain HTTP beside it
