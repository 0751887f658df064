"""The device tester peer (RFC 8572 §5.3, §7): a TLS client with an IDevID-like
certificate that calls the bootstrap server's RPCs and takes apart what comes back.

Every answer is kept (`.answers`) as the peer saw it, with the connection's failure if
the handshake or the exchange broke; the tests judge the answers.
"""

from __future__ import annotations

import base64
import http.client
import socket
import ssl
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from harness.crypto.pki import CertifiedKey
from harness.protocols.sztp import codec
from harness.protocols.voucher.cms import chains_to

MEDIA = "application/yang-data+json"
RPC_PREFIX = "/restconf/operations/ietf-sztp-bootstrap-server:"
TIMEOUT = 20.0

Connect = Callable[[tuple[str, int], float | None], socket.socket]


@dataclass
class Answer:
    """One RPC call: what was sent and what came back (status None: no HTTP answer)."""

    rpc: str
    request: bytes
    status: int | None = None
    content_type: str = ""
    body: bytes = b""
    failure: str = ""  # TLS or connection failure, when there was no answer

    @property
    def media_type(self) -> str:
        return self.content_type.split(";")[0].strip().lower()

    def describe(self) -> str:
        if self.status is None:
            return f"{self.rpc}: no answer ({self.failure})"
        return f"{self.rpc}: {self.status} {self.content_type} {self.body[:200]!r}"

    def output(self, paired: bool = True) -> codec.GetBootstrappingDataOutput:
        """The decoded get-bootstrapping-data output; SztpCodecError if it is not one
        (`paired=False`: an owner certificate or voucher without the other is kept)."""
        return codec.parse_get_output(self.body, paired=paired)

    def errors(self) -> list[dict[str, Any]]:
        return codec.restconf_errors(self.body)

    def carries_conveyed_information(self) -> bool:
        return b"conveyed-information" in self.body


@dataclass
class Opened:
    """A get-bootstrapping-data answer taken apart and checked (signed or not)."""

    output: codec.GetBootstrappingDataOutput
    unwrapped: codec.Unwrapped
    info: codec.ConveyedInformation
    owner_certificates: list[x509.Certificate] = field(default_factory=list)

    @property
    def signed(self) -> bool:
        return self.unwrapped.signed is not None


def open_output(answer: Answer) -> Opened:
    """Decode the output, unwrap its CMS (verifying a signature) and parse the conveyed
    information. Raises SztpCodecError at the first thing that does not decode. The
    content type is left to the caller to judge (`Opened.unwrapped.content_type`), and so
    is an owner certificate without ownership voucher or the other way round (RFC 8572
    §7.3, a requirement of its own: the other checks go on without it)."""
    output = answer.output(paired=False)
    unwrapped = codec.unwrap_conveyed(output.conveyed_information)
    owners = []
    if output.owner_certificate is not None:
        owners = codec.certs_from_cms(output.owner_certificate, "owner-certificate")
    return Opened(output, unwrapped, codec.parse_conveyed_json(unwrapped.content), owners)


def signer_is_owner(opened: Opened) -> bool:
    """Whether the conveyed information's signature verifies with the owner certificate
    (RFC 8572 §3.2: the owner certificate is the signer's)."""
    from harness.protocols.voucher.cms import verify_cms
    from harness.protocols.voucher.errors import VoucherError

    owner = codec.leaf_of(opened.owner_certificates)
    if opened.unwrapped.signed is None or owner is None:
        return False
    try:
        verify_cms(opened.output.conveyed_information, signer=owner)
    except VoucherError:
        return False
    return True


def owner_chains_to(opened: Opened, anchor: x509.Certificate) -> bool:
    leaf = codec.leaf_of(opened.owner_certificates)
    if leaf is None:
        return False
    rest = [c for c in opened.owner_certificates if c is not leaf]
    return leaf == anchor or chains_to(leaf, anchor, rest)


class DevicePeer:
    """A bootstrapping device. `client`: its certificate (None: no client certificate);
    `trust`: the bootstrap server's trust anchors; `connect`: makes the TCP connection
    (from the tester's node, through the capture relay)."""

    def __init__(self, host: str, port: int, trust: list[x509.Certificate],
                 client: CertifiedKey | None = None, keylog: Path | None = None,
                 connect: Connect | None = None, basic: tuple[str, str] | None = None,
                 timeout: float = TIMEOUT):  # fmt: skip
        self.host, self.port = host, port
        self.trust = trust
        self.client = client
        self.keylog = keylog
        self.connect = connect
        self.basic = basic
        self.timeout = timeout
        self.answers: list[Answer] = []

    def _context(self, folder: Path) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(cadata="".join(
            c.public_bytes(Encoding.PEM).decode() for c in self.trust))  # fmt: skip
        ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        ctx.check_hostname = False  # the setup names the server by address; chain still checked
        if self.client is not None:
            # RFC 8572 §5.3: the device sends its intermediate certificates too
            paths = self.client.write(folder, "device")
            ctx.load_cert_chain(paths.bundle, paths.key)
        if self.keylog is not None:
            ctx.keylog_filename = str(self.keylog)
        return ctx

    def post(self, rpc: str, body: bytes, content_type: str = MEDIA) -> Answer:
        """POST `body` to the RPC; never raises for network or TLS trouble."""
        answer = Answer(rpc, body)
        headers = {"Content-Type": content_type, "Accept": MEDIA}
        if self.basic is not None:
            token = base64.b64encode(":".join(self.basic).encode()).decode()
            headers["Authorization"] = "Basic " + token
        with tempfile.TemporaryDirectory() as folder:
            ctx = self._context(Path(folder))
            conn = http.client.HTTPSConnection(self.host, self.port, context=ctx,
                                               timeout=self.timeout)  # fmt: skip
            if self.connect is not None:
                connect = self.connect
                address = (self.host, self.port)

                def _connect() -> None:
                    raw = connect(address, self.timeout)
                    conn.sock = ctx.wrap_socket(raw, server_hostname=self.host)

                conn.connect = _connect  # type: ignore[method-assign]
            try:
                conn.request("POST", RPC_PREFIX + rpc, body=body, headers=headers)
                response = conn.getresponse()
                answer.status = response.status
                answer.content_type = response.getheader("Content-Type", "") or ""
                answer.body = response.read()
            except (OSError, ssl.SSLError, http.client.HTTPException) as exc:
                answer.failure = f"{type(exc).__name__}: {exc}"
            finally:
                conn.close()
        self.answers.append(answer)
        return answer

    def get_bootstrapping_data(self, request: codec.GetBootstrappingDataInput | None = None
                               ) -> Answer:  # fmt: skip
        return self.post("get-bootstrapping-data",
                         (request or codec.GetBootstrappingDataInput()).to_json())

    def report_progress(self, report: codec.ReportProgressInput) -> Answer:
        return self.post("report-progress", report.to_json())
