"""The reference server's /fullcmc (RFC 7030 §4.3): one PKCS#10 in a Full PKI Request.

Minimal by design: the PKIData must be signed with the key of the PKCS#10 it carries
(RFC 5272 §3.2.1.3.1), and the answer is a Full PKI Response with a CMCStatusInfoV2
and the issued certificate. Anything else is rejected with 400, as RFC 7030 §4.3.1
asks ("If the HTTP POST to /fullcmc is not a valid Full PKI Request, the server MUST
reject the message").
"""

from __future__ import annotations

from collections.abc import Callable

from cryptography import x509

from harness.crypto.pki import CertifiedKey
from harness.protocols.est import cmc, codec

Issue = Callable[[x509.CertificateSigningRequest], x509.Certificate]


class FullCmcRefused(Exception):
    """The request is no valid Full PKI Request; the message says why."""


def read_request(
    content_type: str, body: bytes, lenient: bool = False
) -> tuple[int, x509.CertificateSigningRequest]:
    """(bodyPartID, PKCS#10) of a valid Full PKI Request; raises FullCmcRefused.

    `lenient` (a mutant) takes the first PKCS#10 it finds, in a CMS of any content type,
    signed or not, or bare.
    """
    try:
        media, _ = codec.parse_content_type(content_type)
    except codec.CodecError:
        media = ""
    if media != codec.PKCS7_MIME and not lenient:
        raise FullCmcRefused(f"request Content-Type {content_type!r} is not {codec.PKCS7_MIME}")
    try:
        der = codec.b64_decode(body)
    except codec.CodecError as exc:
        raise FullCmcRefused(f"body is not base64: {exc}") from exc
    if lenient:
        return _any_csr(der)
    try:
        request = cmc.parse_full_pki_request(der)
    except cmc.CmcError as exc:
        raise FullCmcRefused(f"not a Full PKI Request: {exc}") from exc
    if len(request.requests) != 1:
        raise FullCmcRefused(f"{len(request.requests)} PKCS#10 requests; this server takes one")
    part, csr = request.requests[0]
    try:
        cmc.verify_request(request, csr.public_key())
    except cmc.CmcError as exc:
        raise FullCmcRefused(f"PKIData signature: {exc}") from exc
    if not csr.is_signature_valid:
        raise FullCmcRefused("PKCS#10 signature does not verify")
    return part, csr


def _any_csr(der: bytes) -> tuple[int, x509.CertificateSigningRequest]:
    try:
        return 1, x509.load_der_x509_csr(der)
    except ValueError:
        pass
    try:
        requests = cmc.pkidata_requests(cmc.parse_signed(der).econtent)
    except cmc.CmcError as exc:
        raise FullCmcRefused(f"no PKCS#10 found: {exc}") from exc
    if not requests:
        raise FullCmcRefused("no PKCS#10 found")
    return requests[0]


def response(part: int, cert: x509.Certificate, ca: CertifiedKey) -> bytes:
    """DER Full PKI Response: success for `part`, the issued certificate attached."""
    return cmc.full_pki_response(cmc.SUCCESS, [part], ca, [cert], "issued")
