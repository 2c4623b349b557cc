"""Remote JWKS fetching against a real HTTP server on loopback: limits, redirects, allow-list, throttling."""

import ipaddress
import json
import socket
import ssl
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from jwt.algorithms import ECAlgorithm

from identities.runtime.jwks import FetchRules, JwksFetchError, RemoteJwks, fetch_jwks
from identities.runtime.keys import JWT_SVID_USE
from identities.runtime.proofs import ProofError, TrustBundle, verify_jwt_svid

SIGNER = ec.generate_private_key(ec.SECP256R1())
KEY = ECAlgorithm.to_jwk(SIGNER.public_key(), as_dict=True)
LOOPBACK = FetchRules(allowed_networks=("127.0.0.1/32",), allow_loopback_http=True, timeout=2.0)


class JwksServer:
    """Serves routes from a dict; counts hits so tests can see whether a fetch happened."""

    def __init__(self, tls: ssl.SSLContext | None = None):
        self.routes: dict[str, tuple[int, dict[str, str | None], bytes]] = {}
        self.hits: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.hits.append(self.path)
                status, headers, body = server.routes.get(self.path, (404, {}, b"not found"))
                self.send_response(status)
                for name, value in headers.items():
                    if value is not None:
                        self.send_header(name, value)
                if "Content-Length" not in headers:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def url(self, path):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def serve(self, path, document, status=200, headers=None):
        body = document if isinstance(document, bytes) else json.dumps(document).encode()
        self.routes[path] = (status, {"Content-Type": "application/json", **(headers or {})}, body)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    running = JwksServer()
    yield running
    running.close()


def keys(*kids):
    return {"keys": [{**KEY, "kid": kid, "use": JWT_SVID_USE} for kid in kids]}


def test_a_jwks_is_fetched_from_an_allowed_address(server):
    server.serve("/bundle", keys("k1"))
    assert fetch_jwks(server.url("/bundle"), LOOPBACK)["keys"][0]["kid"] == "k1"


def test_a_jwks_larger_than_the_limit_is_refused(server):
    server.serve("/big", {"keys": [{**KEY, "kid": f"k{i}"} for i in range(200)]})
    with pytest.raises(JwksFetchError, match="at most 1024"):
        fetch_jwks(server.url("/big"), FetchRules(("127.0.0.1/32",), max_bytes=1024, allow_loopback_http=True))


def test_a_body_longer_than_announced_is_cut_at_the_limit(server):
    # No Content-Length to go by (HTTP/1.0, the body ends when the server closes): the reader stops itself.
    server.serve("/stream", b" " * 5000, headers={"Content-Length": None})
    with pytest.raises(JwksFetchError, match="larger than 1000 bytes"):
        fetch_jwks(server.url("/stream"), FetchRules(("127.0.0.1/32",), max_bytes=1000, allow_loopback_http=True))


def test_a_redirect_is_refused_not_followed(server):
    server.serve("/moved", b"", status=302, headers={"Location": "http://169.254.169.254/latest/meta-data"})
    with pytest.raises(JwksFetchError, match="redirects are not followed"):
        fetch_jwks(server.url("/moved"), LOOPBACK)
    assert server.hits == ["/moved"]


def test_an_address_outside_the_allow_list_is_refused_before_connecting(server):
    server.serve("/bundle", keys("k1"))
    with pytest.raises(JwksFetchError, match="outside the networks allowed"):
        fetch_jwks(server.url("/bundle"), FetchRules(("10.0.0.0/8", "public"), allow_loopback_http=True))
    assert server.hits == []


def test_a_host_name_is_checked_by_the_addresses_it_resolves_to(server):
    server.serve("/bundle", keys("k1"))
    port = server.httpd.server_address[1]

    def resolver(host, port_, type=0):
        assert host == "keys.internal.example"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port_))]

    url = f"http://keys.internal.example:{port}/bundle"
    assert fetch_jwks(url, LOOPBACK, resolver=resolver)["keys"]
    with pytest.raises(JwksFetchError, match=r"resolves to 127\.0\.0\.1"):
        fetch_jwks(url, FetchRules(("public",), allow_loopback_http=True), resolver=resolver)


def test_plain_http_is_refused_unless_allowed_for_loopback(server):
    server.serve("/bundle", keys("k1"))
    with pytest.raises(JwksFetchError, match="https"):
        fetch_jwks(server.url("/bundle"), FetchRules(("127.0.0.1/32",)))
    with pytest.raises(JwksFetchError, match="not an https URL"):
        fetch_jwks("ftp://127.0.0.1/bundle", LOOPBACK)


def test_an_error_status_or_a_non_jwks_body_is_refused(server):
    server.serve("/html", b"<html></html>")
    server.serve("/list", [1, 2])
    with pytest.raises(JwksFetchError, match="answered 404"):
        fetch_jwks(server.url("/missing"), LOOPBACK)
    with pytest.raises(JwksFetchError, match="did not return JSON"):
        fetch_jwks(server.url("/html"), LOOPBACK)
    with pytest.raises(JwksFetchError, match="did not return a JWK set"):
        fetch_jwks(server.url("/list"), LOOPBACK)


def test_a_server_that_does_not_answer_times_out():
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    try:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/bundle"
        with pytest.raises(JwksFetchError, match="could not be read"):
            fetch_jwks(url, FetchRules(("127.0.0.1/32",), timeout=0.3, allow_loopback_http=True))
    finally:
        silent.close()


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_an_unknown_kid_refreshes_at_most_once_a_minute(server):
    server.serve("/bundle", keys("k1"))
    clock = Clock()
    remote = RemoteJwks(server.url("/bundle"), LOOPBACK, use=JWT_SVID_USE, clock=clock)

    assert remote.jwk("k1")["kid"] == "k1"
    assert remote.jwk("k1") is not None
    assert len(server.hits) == 1  # cached

    server.serve("/bundle", keys("k1", "k2"))
    clock.now += 10
    assert remote.jwk("k2") is None  # within the minute: no refetch for an unknown kid
    assert remote.jwk("k3") is None
    assert len(server.hits) == 1

    clock.now += 51
    assert remote.jwk("k2")["kid"] == "k2"  # a minute after the last fetch the unknown kid triggers one
    assert len(server.hits) == 2
    assert remote.jwk("k3") is None
    assert len(server.hits) == 2


def test_known_keys_survive_a_failed_refresh_but_an_unreachable_source_is_reported(server):
    server.serve("/bundle", keys("k1"))
    clock = Clock()
    remote = RemoteJwks(server.url("/bundle"), LOOPBACK, use=JWT_SVID_USE, clock=clock)
    assert remote.jwk("k1")

    server.routes.pop("/bundle")
    clock.now += 3601  # stale: a refresh is attempted and fails
    assert remote.jwk("k1")["kid"] == "k1"
    clock.now += 61
    with pytest.raises(JwksFetchError, match="answered 404"):
        remote.jwk("k9")

    never = RemoteJwks(server.url("/nothing"), LOOPBACK, use=JWT_SVID_USE, clock=clock)
    with pytest.raises(JwksFetchError):
        never.jwk("k1")
    with pytest.raises(JwksFetchError):  # still reported while throttled, not silently "unknown kid"
        never.jwk("k1")


# HTTPS: the connection goes to the pinned address, the certificate is checked for the host name asked for.


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "keys.internal.example")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("keys.internal.example"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return folder


@pytest.fixture
def tls_server(certificate):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate / "cert.pem", certificate / "key.pem")
    running = JwksServer(tls=context)
    running.serve("/bundle", keys("k1"))
    yield running
    running.close()


def to_loopback(host, port, type=0):
    return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]


def test_https_is_fetched_from_the_pinned_address_with_the_certificate_checked_for_the_host(tls_server, certificate):
    rules = FetchRules(("127.0.0.1/32",), ca_file=str(certificate / "cert.pem"))
    url = f"https://keys.internal.example:{tls_server.httpd.server_address[1]}/bundle"
    assert fetch_jwks(url, rules, resolver=to_loopback)["keys"][0]["kid"] == "k1"


def test_https_with_a_certificate_for_another_host_or_an_untrusted_issuer_is_refused(tls_server, certificate):
    port = tls_server.httpd.server_address[1]
    trusted = FetchRules(("127.0.0.1/32",), ca_file=str(certificate / "cert.pem"))
    with pytest.raises(JwksFetchError, match=r"could not be read.*match"):
        fetch_jwks(f"https://impostor.example:{port}/bundle", trusted, resolver=to_loopback)
    with pytest.raises(JwksFetchError, match="CERTIFICATE_VERIFY_FAILED"):
        fetch_jwks(f"https://keys.internal.example:{port}/bundle", FetchRules(("127.0.0.1/32",)), resolver=to_loopback)


# A proof verified with keys fetched from a URL


def svid(kid):
    # Five minutes past the clock the tests verify at (a longer-lived SVID is refused: max_proof_lifetime).
    exp = int(datetime(2026, 12, 1, tzinfo=UTC).timestamp()) + 300
    claims = {"sub": "spiffe://prod.example.com/agent/a", "aud": "agentiam", "exp": exp}
    return jwt.encode(claims, SIGNER, algorithm="ES256", headers={"kid": kid})


def test_a_jwt_svid_verifies_against_a_bundle_fetched_from_a_url_and_picks_up_a_rotated_key(server):
    server.serve("/bundle", keys("k1"))
    clock = Clock()
    remote = RemoteJwks(server.url("/bundle"), LOOPBACK, use=JWT_SVID_USE, clock=clock)
    bundles = {"prod.example.com": TrustBundle("prod.example.com", remote, "agentiam")}
    now = datetime(2026, 12, 1, tzinfo=UTC)
    assert verify_jwt_svid(svid("k1"), bundles=bundles, now=now).key_id == "k1"

    server.serve("/bundle", keys("k1", "k2"))
    with pytest.raises(ProofError) as caught:
        verify_jwt_svid(svid("k2"), bundles=bundles, now=now)  # within the minute: not refetched yet
    assert caught.value.code == "unknown_kid"
    clock.now += 60
    assert verify_jwt_svid(svid("k2"), bundles=bundles, now=now).key_id == "k2"


def test_a_proof_whose_keys_cannot_be_fetched_is_refused_with_the_reason(server):
    remote = RemoteJwks(server.url("/gone"), LOOPBACK, use=JWT_SVID_USE)
    bundles = {"prod.example.com": TrustBundle("prod.example.com", remote, "agentiam")}
    with pytest.raises(ProofError) as caught:
        verify_jwt_svid(svid("k1"), bundles=bundles, now=datetime(2026, 12, 1, tzinfo=UTC))
    assert caught.value.code == "jwks_unavailable"
    assert "answered 404" in caught.value.reason
