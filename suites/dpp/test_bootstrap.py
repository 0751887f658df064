"""The DUT's bootstrapping information (DPP §5.2): the URI it shows (QR code) or that its
profile gives as OOB data, checked by the harness's URI parser (itself checked against
the hostap and iwd corpora in vectors/dpp/)."""

from __future__ import annotations

import pytest

from harness.protocols.dpp import crypto
from harness.protocols.dpp.errors import DppCodecError
from harness.protocols.dpp.testbed import DppBed
from harness.protocols.dpp.uri import parse_uri
from harness.verdicts import check, fail, inconclusive


def _uri(bed: DppBed) -> str:
    text = bed.dut_uri_text()
    if text is None:
        inconclusive("the DUT gave no bootstrapping URI (OOB `uri` or bootstrap action)")
    assert text is not None
    return text


@pytest.mark.requirement("DPP-5.2.1-MUST-01")
def test_uri_format(dpp_bed: DppBed, dut_role: str) -> None:
    """The URI follows the DPP URI format: DPP: then tokens, a K: token, ending ;;."""
    text = _uri(dpp_bed)
    dpp_bed.evidence.write_text("dut-uri.txt", text + "\n")
    try:
        parse_uri(text)
    except DppCodecError as exc:
        fail(f"the DUT's URI {text!r} is not a DPP URI: {exc}", "DPP-5.2.1-MUST-01")


@pytest.mark.requirement("DPP-5.2.1-MUST-02")
def test_uri_key(dpp_bed: DppBed, dut_role: str) -> None:
    """K: is the base64 DER SubjectPublicKeyInfo of a key on a DPP curve."""
    text = _uri(dpp_bed)
    try:
        info = parse_uri(text)
        key = crypto.public_from_spki(info.key_der)
    except (DppCodecError, crypto.DppCryptoError) as exc:
        fail(f"the URI's K: is not a DPP bootstrapping key: {exc}", "DPP-5.2.1-MUST-02")
    check(crypto.curve_of(key).name in crypto.CURVES, "the key is on no DPP curve",
          "DPP-5.2.1-MUST-02")
