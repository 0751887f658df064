"""BRSKI registrar DUT: enrollment after the voucher (RFC 8995 §5.9.2). The harness
plays the pledge: it gets a voucher from the DUT (through the tester MASA), then does
EST with the voucher's pinned-domain-cert as trust anchor and its IDevID."""

from __future__ import annotations

import pytest
from cryptography import x509

from harness.capture import Frame
from harness.protocols.brski.errors import BrskiError
from harness.protocols.brski.suite_support import (
    RegistrarDutBed,
    conforming_csr,
    numbers,
    violating_csr,
)
from harness.protocols.est import codec
from harness.verdicts import check, fail, inconclusive

pytestmark = pytest.mark.dut_role("brski", "registrar")


def _is_enroll(frame: Frame) -> bool:
    uri = frame.get("http.request.uri")
    return isinstance(uri, str) and uri.endswith("/simpleenroll")


@pytest.mark.requirement("RFC8995-5.9.2-MUST-02")
def test_csr_validated_against_attributes(registrar_bed: RegistrarDutBed) -> None:
    """The registrar MUST validate the CSR against the expected attributes."""
    req = "RFC8995-5.9.2-MUST-02"
    bed = registrar_bed
    bed.start()
    # Step 1: the tester pledge obtains a voucher, so the registrar lets it enroll.
    try:
        _, _, voucher, _ = bed.pledge().request_voucher()
        pinned = x509.load_der_x509_certificate(voucher.pinned_domain_cert or b"")
    except (BrskiError, ValueError) as exc:
        inconclusive(f"the tester pledge got no usable voucher from the registrar: {exc}")
    with bed.est_client(pinned).session() as session:
        if session.error is not None:
            inconclusive(f"no EST connection to the registrar: {session.error}")
        # Step 2: what the registrar asks for.
        attrs = session.csrattrs()
        if attrs.status != 200:
            inconclusive(f"/csrattrs answered {attrs.status or attrs.error}: the registrar "
                         "expects no attributes to validate against")  # fmt: skip
        try:
            asked = codec.parse_csrattrs(codec.b64_decode(attrs.body))
        except codec.CodecError as exc:
            inconclusive(f"the registrar's CSR attributes do not parse: {exc}")
        bad = violating_csr(asked)
        if bad is None:
            inconclusive("the registrar asks for no signature algorithm or subject attribute "
                         f"(asked: {', '.join(a.oid for a in asked) or 'nothing'})")
        csr, what = bad
        # Step 3: a CSR that ignores them, then (control) the reference pledge's CSR.
        refused = session.simpleenroll(csr)
        control = session.simpleenroll(conforming_csr())
    frames = numbers(bed.wire().all(_is_enroll))
    if refused.status == 0:
        inconclusive(f"the registrar did not answer the CSR ({refused.error})")
    if refused.status == 200:
        fail(f"the registrar enrolled a CSR that {what}", req, frames=frames)
    if refused.status == 202:
        inconclusive("the registrar deferred the CSR (202): no decision to judge")
    if control.status != 200:
        inconclusive(f"the registrar refuses a CSR that honours its attributes too "
                     f"({control.status or control.error}): its refusal proves nothing")
    check(400 <= refused.status < 600, f"the registrar answered {refused.status} to a CSR "
          f"that {what}", req, frames=frames)  # fmt: skip
