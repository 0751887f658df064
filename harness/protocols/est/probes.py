"""Exchanges the client tester peer runs against an EST server DUT as a precondition of
a test case: enrolling through manual approval, finding the certificate it issued."""

from __future__ import annotations

import time

from cryptography import x509

from harness.crypto.certs import cert_for_key
from harness.crypto.pki import PrivateKey
from harness.protocols.est import codec
from harness.protocols.est.client import EstClientPeer, EstResponse
from harness.verdicts import inconclusive

MAX_PENDING_ROUNDS = 3  # a server in manual-approval mode answers 202 before it issues
MAX_RETRY_WAIT = 5.0  # bound on one Retry-After wait, so a hostile value cannot hang the run


def post_waiting(
    peer: EstClientPeer,
    op: str,
    csr: x509.CertificateSigningRequest,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> EstResponse:
    """POST a CSR to `op`, waiting out the 202s of a server in manual-approval mode."""
    sent = {"Content-Type": codec.PKCS10, **(headers or {})}
    data = body if body is not None else codec.csr_to_body(csr)
    resp = peer.request("POST", op, sent, data)
    for _ in range(MAX_PENDING_ROUNDS):
        if resp.status != 202:
            break
        # A missing or unreadable Retry-After is judged by its own test; here wait 1 s.
        value = resp.header("retry-after") or "1"
        time.sleep(min(float(value), MAX_RETRY_WAIT) if value.isdigit() else 1.0)
        resp = peer.request("POST", op, sent, data)
    return resp


def issued_for(key: PrivateKey, resp: EstResponse) -> x509.Certificate:
    """The certificate of `resp` for `key` (the client's view, only to re-enroll with).

    Extra certificates or a binary body are other tests' verdicts; here they must not
    stop the re-enrollment, so the body is read leniently.
    """
    try:
        certs = resp.certs()
    except codec.CodecError:
        try:
            certs = codec.parse_certs_only(resp.body)
        except codec.CodecError as exc:
            inconclusive(f"the DUT issued no certificate to re-enroll with: {exc}")
    cert = cert_for_key(certs, key)
    if cert is None:
        inconclusive("the DUT's answer holds no certificate for the CSR's key to re-enroll with")
    return cert
