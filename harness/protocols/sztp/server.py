"""The reference SZTP bootstrap server (RFC 8572 §7): RESTCONF RPCs over HTTP/1.1 and TLS
with client certificates (Python ssl, http.server, one thread per connection).

The device is the serialNumber of its verified client certificate's subject (the
IDevID, RFC 8572 §5.3 / IEEE 802.1AR). Answers follow RFC 8040: 401 access-denied for a
client that is not authenticated or not known, 400 for input the YANG module refuses,
204 for report-progress, 200 with application/yang-data+json for get-bootstrapping-data.
`ServerBehaviour` bends it for the mutants (mutants.py).
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import http.server
import socket
import ssl
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from harness.errors import PeerError
from harness.protocols.sztp import codec
from harness.protocols.sztp.config import DeviceEntry, ServerSetup
from harness.protocols.sztp.encryption import encrypt_conveyed
from harness.protocols.sztp.errors import SztpCodecError
from harness.protocols.voucher.cms import (
    ID_CT_ANIMA_JSON_VOUCHER,
    ID_CT_SZTP_CONVEYED_INFO_JSON,
    sign_cms,
    verify_cms,
)

MEDIA = "application/yang-data+json"
RPC_PREFIX = "/restconf/operations/ietf-sztp-bootstrap-server:"
MAX_BODY = 256 * 1024
HANDSHAKE_TIMEOUT = 10.0
IDLE_TIMEOUT = 30.0


@dataclass
class ServerBehaviour:
    """Departures from RFC 8572 a mutant makes; all off in the reference."""

    serve_unknown: bool = False  # an unknown serial gets the first device's data
    ignore_signed_preferred: bool = False  # signed-data-preferred changes nothing
    trust_all_configured: bool = False  # every certificate of the setup trusts clients
    content_type: str | None = None  # another content type for unsigned conveyed info
    accept_bad_input: bool = False  # input the YANG module refuses still gets answers
    foreign_owner_certificate: bool = False  # owner certificate not the signer's
    drop_anchor_root: bool = False  # redirect trust anchors without their root
    serve_anonymous: bool = False  # a client without certificate gets the first device's data
    refusal_status: int = 401  # the status of an access-denied refusal
    ignore_activation_code: bool = False  # HTTP Basic credentials are not checked
    default_redirect_port: bool = False  # redirect information names port 443, not the configured
    anchor_extra_certs: bool = False  # redirect trust anchors also carry the device CAs
    media_type: str = MEDIA  # the Content-Type of every answer with a body
    self_signed_voucher: bool = False  # the voucher re-signed with the owner's key
    omit_voucher: bool = False  # owner certificate without the ownership voucher
    progress_output: bool = False  # report-progress answered 200 with an empty output
    # Tester departures that test a device DUT (docs/sztp.md, "Device role"):
    redirect_to: codec.BootstrapServer | None = None  # answer with redirect information ...
    redirects: int | None = None  # ... this many times per chain (None: always)
    fail_first: int = 0  # the first calls of get-bootstrapping-data answered 503
    call_limit: int | None = None  # calls beyond this answered 503: stops a redirect loop
    bad_signature: bool = False  # the signature over signed conveyed information is broken
    omit_owner_artifacts: bool = False  # signed data without owner certificate and voucher


@dataclass
class Call:
    """One get-bootstrapping-data call as the server saw it."""

    serial: str | None  # of the verified client certificate (None: none sent)
    request: bytes
    status: int = 0
    answer: str = ""  # "redirect", "onboarding" or the error
    chain: int = 0  # redirects served in the current chain before this call
    extra: dict[str, str] = field(default_factory=dict)


def serial_of(cert: x509.Certificate) -> str | None:
    names = cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
    return str(names[-1].value) if names else None


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        sock = self.request
        sock.settimeout(HANDSHAKE_TIMEOUT)
        sock.do_handshake()  # here, not in accept(): a slow client stalls only its thread
        sock.settimeout(IDLE_TIMEOUT)
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:
        self.server.owner.log(f"{self.client_address[0]} {format % args}")

    def _reply(self, status: int, body: bytes = b"") -> None:
        self.send_response(status)
        if body:
            self.send_header("Content-Type", self.server.owner.behaviour.media_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _error(self, status: int, tag: str, message: str, kind: str = "protocol") -> None:
        self._reply(status, codec.errors_body(kind, tag, message))

    def do_GET(self) -> None:
        self._error(405, "operation-not-supported", "RPCs are invoked with POST")

    def do_POST(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            self._error(413, "too-big", "missing, malformed or too large Content-Length")
            self.close_connection = True
            return
        body = self.rfile.read(length)
        if not self.path.startswith(RPC_PREFIX):
            self._error(404, "invalid-value", f"no resource {self.path}")
            return
        self.server.owner.handle(self, self.path[len(RPC_PREFIX):], body)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    owner: BootstrapServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # failed handshakes and dropped clients are the tests' business, not tracebacks
        self.owner.log(f"{client_address[0]} connection error")


class BootstrapServer:
    """`start()` listens on setup.address:setup.port (0: any free port, read `.port`)."""

    def __init__(self, setup: ServerSetup, behaviour: ServerBehaviour | None = None,
                 keylog: Path | None = None, log: Path | None = None):  # fmt: skip
        self.setup = setup
        self.behaviour = behaviour or ServerBehaviour()
        self.keylog = keylog
        self.log_path = log
        self.port = 0
        self.progress: list[tuple[str, codec.ReportProgressInput]] = []
        self.calls: list[Call] = []
        self.chain = 0  # redirects served since the last `restart_chain()`
        self.on_call: Callable[[], None] | None = None  # run at each get-bootstrapping-data
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # -- lifecycle ----------------------------------------------------------------------------

    def _context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with tempfile.TemporaryDirectory() as folder:
            paths = self.setup.server.write(Path(folder), "server")
            ctx.load_cert_chain(paths.bundle, paths.key)
        trust = list(self.setup.device_ca)
        if self.behaviour.trust_all_configured:
            trust += self._configured_certificates()
        ctx.load_verify_locations(cadata="".join(
            c.public_bytes(Encoding.PEM).decode() for c in trust))  # fmt: skip
        ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN  # a device CA may be a sub-CA
        # CERT_OPTIONAL: a device without a certificate gets an RFC 8040 401, not an alert
        ctx.verify_mode = ssl.CERT_OPTIONAL
        ctx.set_alpn_protocols(["http/1.1"])
        if self.keylog is not None:
            ctx.keylog_filename = str(self.keylog)
        return ctx

    def _configured_certificates(self) -> list[x509.Certificate]:
        found: list[x509.Certificate] = []
        for dev in self.setup.devices:
            if isinstance(dev.conveyed, codec.RedirectInformation):
                for server in dev.conveyed.bootstrap_servers:
                    if server.trust_anchor:
                        found += codec.certs_from_cms(server.trust_anchor)
        return found

    def start(self) -> None:
        try:
            context = self._context()
            httpd = _Server((self.setup.address, self.setup.port), _Handler,
                            bind_and_activate=False)  # fmt: skip
            if ":" in self.setup.address:
                httpd.address_family = socket.AF_INET6
                httpd.socket = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            httpd.server_bind()
            httpd.server_activate()
        except (OSError, ssl.SSLError) as exc:
            raise PeerError(f"bootstrap server does not start: {exc}") from exc
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True,
                                           do_handshake_on_connect=False)  # fmt: skip
        httpd.owner = self
        self._httpd = httpd
        self.port = int(httpd.server_address[1])
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        daemon=True, name="sztp-bootstrap-server")
        self._thread.start()

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def log(self, line: str) -> None:
        if self.log_path is not None:
            with self._lock, self.log_path.open("a", encoding="utf-8") as out:
                out.write(line + "\n")

    def restart_chain(self) -> None:
        with self._lock:
            self.chain = 0

    # -- RPCs ---------------------------------------------------------------------------------

    def _device(self, handler: _Handler) -> DeviceEntry | None:
        der = handler.request.getpeercert(binary_form=True)
        if not der:
            if self.behaviour.serve_anonymous and self.setup.devices:
                return self.setup.devices[0]
            return None
        serial = serial_of(x509.load_der_x509_certificate(der))
        device = self.setup.device(serial) if serial else None
        if device is None and self.behaviour.serve_unknown and self.setup.devices:
            return self.setup.devices[0]
        if (device is not None and device.activation_code is not None
                and not self.behaviour.ignore_activation_code):  # fmt: skip
            # RFC 8572 §5.3: an activation code travels as the HTTP Basic password
            expected = f"{device.serial_number}:{device.activation_code}".encode()
            given = handler.headers.get("Authorization", "")
            if given != "Basic " + base64.b64encode(expected).decode():
                return None
        return device

    def handle(self, handler: _Handler, rpc: str, body: bytes) -> None:
        if rpc not in ("get-bootstrapping-data", "report-progress"):
            handler._error(404, "invalid-value", f"no RPC {rpc}")
            return
        device = self._device(handler)
        if rpc == "get-bootstrapping-data" and self._tester_answered(handler, device, body):
            return
        if device is None:
            handler._error(self.behaviour.refusal_status, "access-denied",
                           "the device is not authenticated")  # fmt: skip
            return
        ctype = (handler.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != MEDIA:
            handler._error(415, "invalid-value", f"Content-Type must be {MEDIA}")
            return
        try:
            if rpc == "report-progress":
                self._report_progress(handler, device, body)
            else:
                self._get_bootstrapping_data(handler, device, body)
        except SztpCodecError as exc:
            handler._error(400, "invalid-value", str(exc))

    def _tester_answered(self, handler: _Handler, device: DeviceEntry | None,
                         body: bytes) -> bool:  # fmt: skip
        """Record the call; answer it here when a tester knob (redirects, failures)
        decides the answer. False: the RFC 8572 answer follows."""
        der = handler.request.getpeercert(binary_form=True)
        serial = serial_of(x509.load_der_x509_certificate(der)) if der else None
        if self.on_call is not None:
            self.on_call()
        with self._lock:
            call = Call(serial, body, chain=self.chain)
            self.calls.append(call)
            count = len(self.calls)
        knobs = self.behaviour
        if device is None:
            return False
        if count <= knobs.fail_first or (knobs.call_limit is not None
                                         and count > knobs.call_limit):  # fmt: skip
            call.status, call.answer = 503, "unavailable"
            handler._error(503, "resource-denied", "try again later", "application")
            return True
        if knobs.redirect_to is not None and (knobs.redirects is None
                                              or call.chain < knobs.redirects):  # fmt: skip
            with self._lock:
                self.chain += 1
            info = codec.RedirectInformation([knobs.redirect_to])
            content = codec.wrap_unsigned(codec.conveyed_to_json(info))
            call.status, call.answer = 200, "redirect"
            handler._reply(200, codec.GetBootstrappingDataOutput(content).to_json())
            return True
        call.answer = "redirect" if isinstance(device.conveyed, codec.RedirectInformation) \
            else "onboarding"
        return False

    def _report_progress(self, handler: _Handler, device: DeviceEntry, body: bytes) -> None:
        try:
            report = codec.parse_progress_input(body)
        except SztpCodecError:
            if not self.behaviour.accept_bad_input:
                raise
            report = codec.ReportProgressInput("informational")
        self.progress.append((device.serial_number, report))
        if self.behaviour.progress_output:  # RFC 8040 §3.6.2: no output, so 204 and no body
            handler._reply(200, b'{"ietf-sztp-bootstrap-server:output": {}}')
            return
        handler._reply(204)

    def _get_bootstrapping_data(self, handler: _Handler, device: DeviceEntry,
                                body: bytes) -> None:  # fmt: skip
        try:
            request = codec.parse_get_input(body)
        except SztpCodecError:
            if not self.behaviour.accept_bad_input:
                raise
            request = codec.GetBootstrappingDataInput()
        conveyed = device.conveyed
        if isinstance(conveyed, codec.RedirectInformation):
            conveyed = self._redirect_served(conveyed)
        content = codec.conveyed_to_json(conveyed)
        if device.signed and self.setup.owner is not None:
            output = self._signed(device, content)
        elif (request.signed_data_preferred and isinstance(conveyed, codec.OnboardingInformation)
              and not self.behaviour.ignore_signed_preferred):
            # RFC 8572 §7.3: signed data or unsigned redirect information, never unsigned
            # onboarding information; this device has neither to offer.
            handler._error(409, "data-missing", "no signed data for this device",
                           "application")
            return
        else:
            content_type = self.behaviour.content_type or ID_CT_SZTP_CONVEYED_INFO_JSON
            output = codec.GetBootstrappingDataOutput(codec.wrap_unsigned(content, content_type))
        recipient = device.encrypt_to
        if recipient is not None:
            # RFC 8572 §3.4: the unencrypted artifact (signed or not) inside EnvelopedData
            output = dataclasses.replace(output, conveyed_information=encrypt_conveyed(
                output.conveyed_information, recipient))  # fmt: skip
        handler._reply(200, output.to_json())

    def _redirect_served(self, info: codec.RedirectInformation) -> codec.RedirectInformation:
        """The redirect information as the mutants bend it (the reference: unchanged)."""
        knobs = self.behaviour
        if knobs.drop_anchor_root:
            info = _without_roots(info)
        if knobs.anchor_extra_certs:
            info = _with_extra_anchors(info, list(self.setup.device_ca))
        if knobs.default_redirect_port:
            info = codec.RedirectInformation([dataclasses.replace(s, port=443)
                                              for s in info.bootstrap_servers])  # fmt: skip
        return info

    def _signed(self, device: DeviceEntry, content: bytes) -> codec.GetBootstrappingDataOutput:
        owner = self.setup.owner
        assert owner is not None
        signed = sign_cms(content, ID_CT_SZTP_CONVEYED_INFO_JSON, owner.key, owner.cert)
        if self.behaviour.bad_signature:
            signed = _broken_signature(signed)
        if self.behaviour.omit_owner_artifacts:
            return codec.GetBootstrappingDataOutput(signed)
        presented = [owner.cert, *owner.chain]
        if self.behaviour.foreign_owner_certificate:
            presented = [self.setup.server.cert, *self.setup.server.chain]
        voucher = device.ownership_voucher
        if self.behaviour.omit_voucher:
            voucher = None
        elif self.behaviour.self_signed_voucher and voucher is not None:
            voucher = sign_cms(verify_cms(voucher).content, ID_CT_ANIMA_JSON_VOUCHER,
                               owner.key, owner.cert)  # fmt: skip
        return codec.GetBootstrappingDataOutput(signed, codec.certs_only(presented), voucher)


def _broken_signature(der: bytes) -> bytes:
    """The SignedData with the last octet of its signature flipped."""
    from asn1crypto import cms

    info = cms.ContentInfo.load(der)
    signer = info["content"]["signer_infos"][0]
    value = bytearray(signer["signature"].native)
    value[-1] ^= 0xFF
    signer["signature"] = bytes(value)
    return info.dump(force=True)


def _with_extra_anchors(info: codec.RedirectInformation, extra: list[x509.Certificate]
                        ) -> codec.RedirectInformation:  # fmt: skip
    """Each trust anchor with `extra` certificates added: more than one chain."""
    servers = []
    for server in info.bootstrap_servers:
        anchor = server.trust_anchor
        if anchor:
            anchor = codec.certs_only([*codec.certs_from_cms(anchor), *extra])
        servers.append(codec.BootstrapServer(server.address, server.port, anchor))
    return codec.RedirectInformation(servers)


def _without_roots(info: codec.RedirectInformation) -> codec.RedirectInformation:
    servers = []
    for server in info.bootstrap_servers:
        anchor = server.trust_anchor
        if anchor:
            roots = codec.self_signed_roots(codec.certs_from_cms(anchor))
            certs = [c for c in codec.certs_from_cms(anchor) if c not in roots]
            anchor = codec.certs_only(certs)
        servers.append(codec.BootstrapServer(server.address, server.port, anchor))
    return codec.RedirectInformation(servers)


@contextlib.contextmanager
def running(server: BootstrapServer) -> Any:
    server.start()
    try:
        yield server
    finally:
        server.stop()
