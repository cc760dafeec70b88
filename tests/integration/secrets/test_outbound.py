"""The outbound guard: `http_request` and `llm` calls reach public addresses only, unless the
operator allows more; every redirect hop is checked; the connection goes to the address that was
checked, so a DNS answer that changes afterwards cannot move it. Real local servers; DNS is
stood in for only where a test needs a name to change its answer."""

from __future__ import annotations

import ipaddress
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from application.delivery import http, llm
from application.delivery.outbound import (
    ALLOW_LOOPBACK,
    OutboundPolicy,
    OutboundRefusedError,
    address_problem,
)
from tests.integration.api.conftest import Stack
from tests.integration.engine.over_http.support import activate, body, run, step
from tests.integration.secrets.servers import Recorder, echo_server


@pytest.fixture(scope="module")
def endpoint() -> Iterator[Recorder]:
    with echo_server() as server:
        yield server


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fd12::1", "private"),
        ("169.254.169.254", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("100.100.100.200", "metadata"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("100.64.0.1", "public"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "metadata"),
        ("64:ff9b::a00:1", "private"),
    ],
)
def test_addresses_that_are_not_public_are_refused_by_default(address: str, reason: str) -> None:
    problem = address_problem(ipaddress.ip_address(address))
    assert problem is not None and reason in problem


@pytest.mark.parametrize("address", ["8.8.8.8", "93.184.216.34", "2606:4700:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert address_problem(ipaddress.ip_address(address)) is None


def test_the_allow_list_parses_cidrs_addresses_and_names() -> None:
    policy = OutboundPolicy.parse(" 10.0.0.0/8, ::1 ,llm.internal,.corp.example,")

    assert policy.refusal(ipaddress.ip_address("10.9.9.9")) is None
    assert policy.refusal(ipaddress.ip_address("::1")) is None
    assert policy.refusal(ipaddress.ip_address("192.168.0.1")) is not None
    assert policy.allows_host("LLM.internal") and policy.allows_host("a.b.corp.example")
    assert not policy.allows_host("corp.example.evil.com")
    with pytest.raises(ValueError, match="neither a CIDR"):
        OutboundPolicy.parse("10.0.0.0/8,http://x")


def _get(policy: OutboundPolicy, url: str, **headers: str) -> http.HttpAnswer:
    with policy.client() as client:
        return http.call(
            client, method="GET", url=url, headers=headers, body=None, timeout_seconds=5
        )


def test_by_default_a_local_server_is_not_called(endpoint: Recorder) -> None:
    before = len(endpoint.requests)
    for url in (endpoint.url, f"http://localhost:{endpoint.port}/x", "http://[::1]:9/"):
        with pytest.raises(OutboundRefusedError, match="loopback"):
            _get(OutboundPolicy(), url)
    assert len(endpoint.requests) == before


def test_an_allowed_name_is_called_at_the_checked_address_with_its_host_header(
    endpoint: Recorder,
) -> None:
    answer = _get(ALLOW_LOOPBACK, f"http://localhost:{endpoint.port}/named")

    assert answer.status == 200
    assert endpoint.requests[-1]["headers"]["host"] == f"localhost:{endpoint.port}"


def test_a_dns_answer_that_changes_after_the_check_cannot_move_the_call(
    endpoint: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`rebind.test` answers the local server's address when first asked, and a forbidden
    address ever after: the call still reaches the local server, because the connection goes
    to the address that was checked and nothing resolves the name a second time."""
    real = socket.getaddrinfo
    asked: list[str] = []

    def rebinding(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != "rebind.test":
            return real(host, port, *args, **kwargs)
        asked.append(host)
        address = "127.0.0.1" if len(asked) == 1 else "10.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)

    answer = _get(ALLOW_LOOPBACK, f"http://rebind.test:{endpoint.port}/rebind")

    assert answer.status == 200
    assert asked == ["rebind.test"]
    assert endpoint.requests[-1]["headers"]["host"] == f"rebind.test:{endpoint.port}"
    # Asked again, the name now resolves to a private address: refused before any connection.
    with pytest.raises(OutboundRefusedError, match=r"10\.0\.0\.1"):
        _get(ALLOW_LOOPBACK, f"http://rebind.test:{endpoint.port}/rebind")


def test_every_redirect_hop_is_checked(endpoint: Recorder) -> None:
    to_metadata = f"{endpoint.url}/redirect?to=http://169.254.169.254/latest/meta-data/"
    with pytest.raises(OutboundRefusedError, match="metadata"):
        _get(ALLOW_LOOPBACK, to_metadata)
    hop = f"{endpoint.url}/redirect?to=/landed"
    assert _get(ALLOW_LOOPBACK, hop).body["path"] == "/landed"
    # A redirect to itself forever: bounded (MAX_REDIRECTS), then a transport error.
    with pytest.raises(httpx.TooManyRedirects, match="more than 5 redirects"):
        _get(ALLOW_LOOPBACK, f"{endpoint.url}/loop")


def test_credentials_are_not_sent_on_to_another_origin(endpoint: Recorder) -> None:
    policy = OutboundPolicy.parse("127.0.0.0/8,::1,localhost")
    elsewhere = f"http://localhost:{endpoint.port}/elsewhere"

    answer = _get(
        policy,
        f"{endpoint.url}/redirect?to={elsewhere}",
        Authorization="Bearer abc",
        **{"X-Trace": "t1"},
    )

    assert answer.status == 200
    last = endpoint.requests[-1]
    assert last["path"] == "/elsewhere"
    assert "authorization" not in last["headers"] and last["headers"]["x-trace"] == "t1"
    assert endpoint.requests[-2]["headers"]["authorization"] == "Bearer abc"


def test_the_llm_endpoint_is_guarded_too() -> None:
    endpoint = llm.LlmEndpoint("http://169.254.169.254/v1", "sk-x")
    with OutboundPolicy().client() as client, pytest.raises(OutboundRefusedError):
        llm.chat(
            client,
            endpoint,
            model="m",
            messages=[{"role": "user", "content": "hi"}],
            json_output=False,
            temperature=None,
            max_tokens=None,
            timeout_seconds=5,
        )


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://169.254.169.254/latest/meta-data/iam/", "a cloud metadata address"),
        ("http://10.255.255.1/internal", "a private address"),
        ("http://[fd00:ec2::254]/latest", "a cloud metadata address"),
    ],
)
async def test_a_refused_call_fails_its_step_at_once_with_the_reason(
    stack: Stack, url: str, why: str
) -> None:
    admin = stack.caller("admin")
    definition_id = await activate(
        admin, body(step("call", "http_request", method="GET", url=url, retries=3))
    )

    execution = await run(admin, definition_id)

    assert execution["status"] == "failed"
    assert why in execution["error"] and "OUTBOUND_ALLOW" in execution["error"]
    events = await admin.get(
        "/api/v1/events",
        params={"aggregate_id": execution["id"], "event_type": "WorkflowExecution.HttpRequestMade"},
    )
    (made,) = events.json()["items"]  # one attempt: a refusal is not retried
    assert made["data"]["error"].startswith("refused: ")


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, ssl.SSLContext]]:
    """An HTTPS server on 127.0.0.1 whose certificate names only `localhost`, and a client
    context that trusts that certificate."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keeps connections open, as most servers do

        def do_GET(self) -> None:
            if self.path.startswith("/redirect?to="):
                self.send_response(302)
                self.send_header("Location", self.path.split("=", 1)[1])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            data = json.dumps({"host": self.headers.get("Host")}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    served = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    served.load_cert_chain(cert_file, key_file)
    server.socket = served.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    trusting = ssl.create_default_context(cafile=str(cert_file))
    try:
        yield int(server.server_address[1]), trusting
    finally:
        server.shutdown()
        server.server_close()


def test_tls_asks_for_and_checks_the_name_while_connecting_to_the_checked_address(
    tls_server: tuple[int, ssl.SSLContext],
) -> None:
    port, trusting = tls_server
    with ALLOW_LOOPBACK.client(verify=trusting) as client:
        answer = http.call(
            client,
            method="GET",
            url=f"https://localhost:{port}/tls",
            headers={},
            body=None,
            timeout_seconds=5,
        )
        assert answer.status == 200 and answer.body == {"host": f"localhost:{port}"}
        # A redirect to another name on the same address opens a connection of its own,
        # checked for that name (a kept one was checked for the first name only).
        with pytest.raises(httpx.ConnectError, match="certificate"):
            http.call(
                client,
                method="GET",
                url=f"https://localhost:{port}/redirect?to=https://127.0.0.1:{port}/tls",
                headers={},
                body=None,
                timeout_seconds=5,
            )
        # The certificate names localhost only: asked by address, the check fails, which
        # shows that the name (SNI) is what was checked above, not the address connected to.
        with pytest.raises(httpx.ConnectError, match="certificate"):
            http.call(
                client,
                method="GET",
                url=f"https://127.0.0.1:{port}/tls",
                headers={},
                body=None,
                timeout_seconds=5,
            )
