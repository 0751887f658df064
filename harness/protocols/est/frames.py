"""EST messages read off decoded frames: what test cases and offline checks look for
in a capture (operation URIs, responses, media types, bodies, the certificates and
CSRs they carry)."""

from __future__ import annotations

import re
from collections.abc import Callable

from cryptography import x509

from harness.capture import Frame
from harness.protocols.est import codec
from harness.protocols.est.exchanges import body_bytes
from harness.verdicts import fail, inconclusive


def op_uri(*ops: str) -> re.Pattern[str]:
    """The request URI of operations `ops`, with the optional CA label (RFC 7030 §3.2.2)."""
    return re.compile(rf"^/\.well-known/est/(?:[^/]+/)?(?:{'|'.join(map(re.escape, ops))})$")


def request_of(method: str, op: str) -> dict[str, object]:
    """A cursor filter for the `method` requests of operation `op`."""
    return {"http.request.method": method, "http.request.uri": op_uri(op)}


def response_to(op: str) -> Callable[[Frame], bool]:
    """A cursor filter for the HTTP responses to the requests for operation `op`."""

    def match(frame: Frame) -> bool:
        uri = frame.get("http.response_for.uri") or ""
        return frame.get("http.response.code") is not None and uri.endswith(f"/{op}")

    match.__name__ = f"the HTTP response to .../{op}"
    return match


def media_type(frame: Frame) -> str:
    """The media type of a message, lower case, without parameters."""
    return (frame.get("http.content_type") or "").split(";", 1)[0].strip().lower()


def header(frame: Frame, name: str) -> str | None:
    """A response header's value from the decoded header lines."""
    prefix = f"{name.lower()}:"
    for line in frame.values("http.response.line"):
        if line.lower().startswith(prefix):
            return line[len(prefix) :].strip()
    return None


def request_body(frame: Frame) -> bytes:
    """A request's entity body as the peer sent it. tshark's http.file_data stops at the
    first NUL of a binary body, so the decrypted HTTP message is preferred when tshark
    reassembled one."""
    for data in frame.values("tls.reassembled.data"):
        message = bytes.fromhex(data.replace(":", ""))
        head, sep, body = message.partition(b"\r\n\r\n")
        if sep and head[:1].isalpha() and not head.startswith(b"HTTP/"):
            return body
    return body_bytes(frame)


def wire_certs(frame: Frame, requirement: str, strict: bool = True) -> list[x509.Certificate]:
    """The certificates of a base64 certs-only body seen on the wire.

    A broken body fails `requirement` when it is about the body (`strict`); otherwise it
    is another requirement's verdict and leaves this test without its precondition.
    """
    try:
        return codec.parse_certs_only(codec.b64_decode(body_bytes(frame)))
    except codec.CodecError as exc:
        reason = f"frame {frame.number}: body is not a base64 certs-only message: {exc}"
        if not strict:
            inconclusive(reason)
        fail(reason, requirement)


def carries_certificate(frame: Frame) -> bool:
    """Whether a response body is a base64 certs-only message (an issued certificate)."""
    try:
        return bool(codec.parse_certs_only(codec.b64_decode(body_bytes(frame))))
    except codec.CodecError:
        return False


def csr_in(frame: Frame) -> x509.CertificateSigningRequest:
    """The PKCS#10 of a POST, base64 or binary DER, for tests that judge its content: its
    encoding is the verdict of RFC8951-3-MUST-02 and RFC7030-4.2.1-MUST-01 alone."""
    body = request_body(frame)
    try:
        return codec.csr_from_body(body)
    except codec.CodecError:
        pass
    try:
        return x509.load_der_x509_csr(body)
    except ValueError:
        inconclusive(
            f"frame {frame.number}: the POST body is no PKCS#10, in base64 or DER",
            frames=[frame.line()],
        )
