"""Bootstrap server DUT: the get-bootstrapping-data output and the conveyed information
it carries (RFC 8572 §3.1, §6.3, §7.3)."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from harness.protocols.sztp import codec
from harness.protocols.sztp.errors import SztpCodecError
from harness.protocols.sztp.peer import MEDIA
from harness.protocols.sztp.testbed import (
    NEXT_SERVER,
    ONBOARD_SN,
    REDIRECT_SN,
    BootstrapServerBed,
    onboarding_info,
)
from harness.verdicts import check, fail

pytestmark = pytest.mark.dut_role("sztp", "bootstrap-server")


@pytest.mark.requirement("RFC8572-7.3-MUST-02")
def test_output_carries_conveyed_information(server_bed: BootstrapServerBed) -> None:
    """leaf conveyed-information { type cms; mandatory true; }"""
    req = "RFC8572-7.3-MUST-02"
    server_bed.start()
    for serial in (REDIRECT_SN, ONBOARD_SN):
        answer = server_bed.call(serial)
        check(answer.status == 200, f"{serial}: expected 200, got {answer.describe()}", req)
        check(answer.media_type == MEDIA, f"{serial}: Content-Type {answer.content_type!r}", req)
        try:
            output = answer.output()
            codec.unwrap_conveyed(output.conveyed_information)
        except SztpCodecError as exc:
            fail(f"{serial}: no decodable conveyed-information CMS: {exc}", req)


@pytest.mark.requirement("RFC8572-3.1-MUST-01")
def test_conveyed_information_content_type(server_bed: BootstrapServerBed) -> None:
    """The conveyed information is a CMS of content type id-ct-sztpConveyedInfoJSON/XML."""
    req = "RFC8572-3.1-MUST-01"
    server_bed.start()
    for serial in (REDIRECT_SN, ONBOARD_SN):
        opened = server_bed.opened(server_bed.call(serial), req, serial)
        found = opened.unwrapped.content_type
        check(found in codec.CONVEYED_TYPES,
              f"{serial}: content type {found}, not id-ct-sztpConveyedInfoJSON "
              f"({codec.CONVEYED_TYPES[0]}) or XML ({codec.CONVEYED_TYPES[1]})", req)


@pytest.mark.requirement("RFC8572-3.1-MUST-02")
def test_redirect_information(server_bed: BootstrapServerBed) -> None:
    """The redirect information conforms to ietf-sztp-conveyed-info and names the
    bootstrap server the DUT was configured to redirect to, with its trust anchor."""
    req = "RFC8572-3.1-MUST-02"
    server_bed.start()
    opened = server_bed.opened(server_bed.call(REDIRECT_SN), req, REDIRECT_SN)
    info = opened.info
    if not isinstance(info, codec.RedirectInformation):
        fail(f"expected redirect information, got {info}", req)
    found = [(s.address, s.port, s.trust_anchor is not None) for s in info.bootstrap_servers]
    check(found == [(*NEXT_SERVER, True)],
          f"bootstrap-server entries {found}, configured {[(*NEXT_SERVER, True)]}", req)
    anchor = info.bootstrap_servers[0].trust_anchor
    assert anchor is not None
    try:
        served = codec.certs_from_cms(anchor, "trust-anchor")
    except SztpCodecError as exc:
        fail(f"trust-anchor: {exc}", req)
    # a certs-only CMS is a SET OF: the same certificates in any order
    configured = [server_bed.pki.next_ca.cert, server_bed.pki.next_root.cert]
    check(sorted(_der(served)) == sorted(_der(configured)),
          f"trust-anchor certificates {_names(served)}, configured {_names(configured)}",
          req)  # fmt: skip


def _der(certs: list[x509.Certificate]) -> list[bytes]:
    return [c.public_bytes(Encoding.DER) for c in certs]


def _names(certs: list[x509.Certificate]) -> list[str]:
    return [c.subject.rfc4514_string() for c in certs]


@pytest.mark.requirement("RFC8572-3.1-MUST-02")
def test_onboarding_information(server_bed: BootstrapServerBed) -> None:
    """The onboarding information conforms to ietf-sztp-conveyed-info and is what the DUT
    was configured with: boot image, configuration and its handling, scripts."""
    req = "RFC8572-3.1-MUST-02"
    server_bed.start()
    opened = server_bed.opened(server_bed.call(ONBOARD_SN), req, ONBOARD_SN)
    check(opened.info == onboarding_info(),
          f"onboarding information {opened.info}, configured {onboarding_info()}", req)


def _anchors(server_bed: BootstrapServerBed, req: str) -> list[list]:  # type: ignore[type-arg]
    opened = server_bed.opened(server_bed.call(REDIRECT_SN), req, REDIRECT_SN)
    if not isinstance(opened.info, codec.RedirectInformation):
        fail(f"expected redirect information, got {opened.info}", req)
    chains = []
    for server in opened.info.bootstrap_servers:
        if server.trust_anchor is None:
            fail(f"bootstrap-server {server.address} has no trust-anchor", req)
        try:
            chains.append(codec.certs_from_cms(server.trust_anchor, "trust-anchor"))
        except SztpCodecError as exc:
            fail(f"trust-anchor of {server.address}: {exc}", req)
    return chains


@pytest.mark.requirement("RFC8572-6.3-MUST-01")
def test_trust_anchor_has_root(server_bed: BootstrapServerBed) -> None:
    """In all cases, the chain MUST include a self-signed root certificate."""
    req = "RFC8572-6.3-MUST-01"
    server_bed.start()
    for certs in _anchors(server_bed, req):
        roots = codec.self_signed_roots(certs)
        check(server_bed.trust_anchor_root() in roots,
              f"trust-anchor of {len(certs)} certificate(s) has self-signed roots "
              f"{[r.subject.rfc4514_string() for r in roots]}, not the configured one", req)


@pytest.mark.requirement("RFC8572-6.3-MUST-02")
def test_trust_anchor_single_chain(server_bed: BootstrapServerBed) -> None:
    """The CMS MUST only contain a single chain of certificates."""
    req = "RFC8572-6.3-MUST-02"
    server_bed.start()
    for certs in _anchors(server_bed, req):
        check(certs and codec.is_single_chain(certs),
              f"trust-anchor certificates {[c.subject.rfc4514_string() for c in certs]} "
              "are not one chain", req)
