"""A real TLS + HTTP exchange on loopback, captured live and through the relay."""

from __future__ import annotations

import datetime
import http.client
import http.server
import ipaddress
import os
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from harness.capture import CaptureSession, Frame, PacketCursor, decode
from harness.verdicts import RequirementFailed

IN_CI = os.environ.get("CI") == "true"
needs_dumpcap = pytest.mark.skipif(
    shutil.which("dumpcap") is None and not IN_CI, reason="dumpcap is not installed"
)


@dataclass
class Material:
    cert_pem: Path
    key_pem: Path
    csr_der: bytes
    certs_only: bytes


@pytest.fixture(scope="module")
def material(tmp_path_factory: pytest.TempPathFactory) -> Material:
    """A self-signed server certificate, a CSR and a PKCS#7 certs-only reply."""
    tmp = tmp_path_factory.mktemp("pki")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    san = x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                       x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(san, critical=False).sign(key, hashes.SHA256()))
    (tmp / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pledge")]))
           .sign(key, hashes.SHA256()))
    return Material(
        cert_pem=tmp / "cert.pem", key_pem=tmp / "key.pem",
        csr_der=csr.public_bytes(serialization.Encoding.DER),
        certs_only=pkcs7.serialize_certificates([cert], serialization.Encoding.DER),
    )


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    certs_only = b""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self._reply(200, "application/pkcs7-mime", self.certs_only)

    def do_GET(self) -> None:
        if self.path == "/.well-known/est/cacerts":
            self._reply(200, "application/pkcs7-mime", self.certs_only)
        else:
            self._reply(404, "text/plain", b"not found\n")

    def _reply(self, code: int, ctype: str, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@dataclass
class Server:
    port: int
    keylog: Path
    material: Material


@pytest.fixture(scope="module")
def server(material: Material, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    keylog = tmp_path_factory.mktemp("keys") / "tls.keylog"
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(material.cert_pem, material.key_pem)
    ctx.set_alpn_protocols(["http/1.1"])
    ctx.keylog_filename = str(keylog)
    handler = type("Handler", (_Handler,), {"certs_only": material.certs_only})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield Server(httpd.server_address[1], keylog, material)
    httpd.shutdown()
    httpd.server_close()


def exchange(port: int, material: Material) -> list[int]:
    """One request on a first connection, two on a second; returns the status codes."""
    ctx = ssl.create_default_context(cafile=str(material.cert_pem))
    ctx.set_alpn_protocols(["http/1.1"])
    codes = []
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
    conn.request("GET", "/.well-known/est/cacerts")
    resp = conn.getresponse()
    resp.read()  # unread data at close would make the client reset the connection
    codes.append(resp.status)
    conn.close()
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
    conn.request("POST", "/.well-known/est/simpleenroll", body=material.csr_der,
                 headers={"Content-Type": "application/pkcs10"})
    resp = conn.getresponse()
    resp.read()
    codes.append(resp.status)
    conn.request("GET", "/.well-known/est/nothing-here")
    resp = conn.getresponse()
    resp.read()
    codes.append(resp.status)
    conn.close()
    return codes


def http_view(frames: list[Frame]) -> list[tuple[str, ...]]:
    """The HTTP layer of a capture: requests and responses, in order."""
    view: list[tuple[str, ...]] = []
    for f in frames:
        if f.get("http.request.method"):
            view.append(("request", f.get("http.request.method") or "",
                         f.get("http.request.uri") or ""))
        elif f.get("http.response.code"):
            view.append(("response", f.get("http.response.code") or "",
                         f.get("http.content_type") or ""))
    return view


EXPECTED_VIEW = [
    ("request", "GET", "/.well-known/est/cacerts"),
    ("response", "200", "application/pkcs7-mime"),
    ("request", "POST", "/.well-known/est/simpleenroll"),
    ("response", "200", "application/pkcs7-mime"),
    ("request", "GET", "/.well-known/est/nothing-here"),
    ("response", "404", "text/plain"),
]


@dataclass
class Captured:
    pcap: Path
    mode: str
    port: int
    frames: list[Frame]


def _capture(mode: str, server: Server, evidence: Path) -> Captured:
    session = CaptureSession(evidence, name=f"exchange_{mode}", ports=[server.port], mode=mode)
    session.start()
    try:
        port = session.relay(upstream=("127.0.0.1", server.port))
        assert exchange(port, server.material) == [200, 200, 404]
    finally:
        result = session.stop()
    frames = decode(result.pcap, keylog=server.keylog, tls_ports=[port])
    return Captured(result.pcap, result.mode, port, frames)


@pytest.fixture(scope="module")
def live(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Captured:
    return _capture("live", server, tmp_path_factory.mktemp("live"))


@pytest.fixture(scope="module")
def transcript(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Captured:
    return _capture("transcript", server, tmp_path_factory.mktemp("transcript"))


@needs_dumpcap
def test_live_capture_decrypts_http(live: Captured, server: Server) -> None:
    assert live.mode == "live"
    assert live.port == server.port  # live mode needs no relay
    assert http_view(live.frames) == EXPECTED_VIEW
    first = live.frames[0]
    assert "S" in (first.get("tcp.flags.str") or "") or first.get("tcp.flags.syn") == "1"
    handshakes = {v for f in live.frames for v in f.values("tls.handshake.type")}
    assert {"1", "2"} <= handshakes  # ClientHello, ServerHello
    post = next(f for f in live.frames if f.get("http.request.method") == "POST")
    assert post.has("http") and post.has("tls")
    assert post.summary.startswith("POST /.well-known/est/simpleenroll")
    assert post.dport == server.port and post.src == "127.0.0.1"


def test_transcript_decodes_like_live_at_http_layer(transcript: Captured, server: Server) -> None:
    assert transcript.mode == "transcript"
    assert transcript.port != server.port
    assert http_view(transcript.frames) == EXPECTED_VIEW
    post = next(f for f in transcript.frames if f.get("http.request.method") == "POST")
    assert post.dport == transcript.port
    assert "Malformed" not in post.summary


@needs_dumpcap
def test_live_and_transcript_agree(live: Captured, transcript: Captured) -> None:
    assert http_view(live.frames) == http_view(transcript.frames)


def test_transcript_is_clean_for_tshark(transcript: Captured, server: Server) -> None:
    out = subprocess.run(["tshark", "-r", str(transcript.pcap)], capture_output=True, text=True,
                         check=False)
    assert out.returncode == 0, out.stderr
    assert "alformed" not in out.stdout
    bad = ("_ws.malformed || tcp.flags.reset == 1 || tcp.analysis.lost_segment"
           " || tcp.analysis.retransmission || tcp.analysis.ack_lost_segment"
           " || tcp.analysis.out_of_order || tcp.analysis.window_full")
    numbers = decode(transcript.pcap, keylog=server.keylog, tls_ports=[transcript.port],
                     display_filter=bad)
    assert numbers == []
    # every connection opens with a handshake and closes with FINs both ways
    syns = [f for f in transcript.frames if f.get("tcp.flags.syn") == "1"]
    fins = [f for f in transcript.frames if f.get("tcp.flags.fin") == "1"]
    assert len(syns) == 4 and len(fins) == 4


def test_cursor_over_real_capture(transcript: Captured, server: Server) -> None:
    quotes = {"RFC7030-4.2.1-MUST-01": "The EST client MUST send a POST"}
    cursor = PacketCursor(transcript.frames, quote=quotes.__getitem__, pcap=transcript.pcap,
                          keylog=server.keylog, tls_ports=[transcript.port])
    post = cursor.expect_next('http.request.method == "POST"', "RFC7030-4.2.1-MUST-01",
                              "the CSR POST")
    assert post.get("http.request.uri") == "/.well-known/est/simpleenroll"
    reply = cursor.expect_next({"http.response.code": "200"}, "RFC7030-4.2.1-MUST-01", "reply")
    assert reply.get("http.content_type") == "application/pkcs7-mime"
    with pytest.raises(RequirementFailed) as caught:
        cursor.expect_none("http.response.code == 404", "RFC7030-4.2.1-MUST-01", "no 404")
    failure = caught.value
    assert "no 404" in failure.reason and "The EST client MUST send a POST" in failure.reason
    marked = [line for line in failure.frames if line.lstrip().startswith(">>")]
    assert len(marked) == 1 and "404" in marked[0]
    with pytest.raises(RequirementFailed, match="not found after frame"):
        cursor.expect_next('http.request.method == "PUT"', "RFC7030-4.2.1-MUST-01", "a PUT")
