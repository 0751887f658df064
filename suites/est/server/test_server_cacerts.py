"""EST server DUT: distribution of CA certificates, /cacerts (RFC 7030 §4.1)."""

from __future__ import annotations

import pytest
from cryptography import x509

from harness.capture import PacketCursor
from harness.crypto.certs import path_to_root, self_signed, signed_with_key_of, spki
from harness.crypto.pki import generate_key, make_csr
from harness.protocols.est import codec
from harness.protocols.est.client import EstResponse
from harness.protocols.est.frames import response_to, wire_certs
from harness.protocols.est.probes import post_waiting
from harness.protocols.est.testbed import ServerDutBed
from harness.verdicts import check, inconclusive

pytestmark = pytest.mark.dut_role("est", "server")


def cacerts_exchange(
    bed: ServerDutBed, auth: str = "cert", **dut_params: str
) -> tuple[EstResponse, PacketCursor]:
    bed.start(**dut_params)
    resp = bed.client(auth=auth).cacerts()
    return resp, bed.wire()


@pytest.mark.requirement("RFC7030-4.1.2-MUST-02")
def test_cacerts_supported(server_bed: ServerDutBed) -> None:
    """EST clients and servers MUST support the /cacerts function."""
    # Step 1: an authenticated tester client sends GET .../cacerts.
    _, wire = cacerts_exchange(server_bed)
    # Step 2: the DUT answers 200.
    req = "RFC7030-4.1.2-MUST-02"
    wire.expect_next({"http.request.method": "GET"}, req, "the GET .../cacerts")
    answer = wire.expect_next(response_to(codec.CACERTS), req, "the answer to GET .../cacerts")
    check(
        answer.get("http.response.code") == "200",
        f"frame {answer.number}: /cacerts answered {answer.get('http.response.code')}",
        req,
    )


@pytest.mark.requirement("RFC7030-4.1.2-SHOULD-NOT-01")
def test_cacerts_without_client_auth(server_bed: ServerDutBed) -> None:
    """The EST server SHOULD NOT require client authentication or authorization to reply
    to this request."""
    # Step 1: a tester client with no client certificate and no HTTP credentials asks.
    _, wire = cacerts_exchange(server_bed, auth="none")
    # Step 2: the DUT answers, and not with a 401 challenge or a 403.
    req = "RFC7030-4.1.2-SHOULD-NOT-01"
    answer = wire.expect_next(response_to(codec.CACERTS), req, "the answer to GET .../cacerts")
    code = answer.get("http.response.code")
    check(code not in ("401", "403"), f"frame {answer.number}: anonymous /cacerts got {code}", req)
    # Any other non-200 answer is RFC7030-4.1.3-MUST-01's verdict, not this one's.
    if code != "200":
        inconclusive(f"frame {answer.number}: /cacerts answered {code}, not a certificate bag")


@pytest.mark.requirement("RFC7030-4.1.3-MUST-01")
def test_cacerts_success_is_200(server_bed: ServerDutBed) -> None:
    """If successful, the server response MUST have an HTTP 200 response code."""
    # Step 1: GET .../cacerts.
    _, wire = cacerts_exchange(server_bed)
    # Step 2: an answer carrying certificates has status 200, not another 2xx.
    req = "RFC7030-4.1.3-MUST-01"
    answer = wire.expect_next(response_to(codec.CACERTS), req, "the answer to GET .../cacerts")
    code = answer.get("http.response.code") or ""
    if not code.startswith("2"):
        inconclusive(f"frame {answer.number}: /cacerts answered {code}, no success to judge")
    check(code == "200", f"frame {answer.number}: successful /cacerts answered {code}", req)


@pytest.mark.requirement("RFC7030-4.1.3-MUST-03")
def test_cacerts_certs_only(server_bed: ServerDutBed) -> None:
    """A successful response MUST be a certs-only CMC Simple PKI Response, as defined in
    [RFC5272], containing the certificates described in the following paragraph."""
    # Step 1: GET .../cacerts.
    _, wire = cacerts_exchange(server_bed)
    req = "RFC7030-4.1.3-MUST-03"
    answer = wire.expect_next(response_to(codec.CACERTS), req, "the answer to GET .../cacerts")
    if answer.get("http.response.code") != "200":
        inconclusive(f"frame {answer.number}: /cacerts was not successful, nothing to judge")
    # Step 2: Content-Type application/pkcs7-mime, body base64 of a certs-only SignedData.
    media = (answer.get("http.content_type") or "").split(";", 1)[0].strip().lower()
    check(
        media == codec.PKCS7_MIME,
        f"frame {answer.number}: Content-Type {answer.get('http.content_type')!r}",
        req,
    )
    check(wire_certs(answer, req), f"frame {answer.number}: certs-only with no certificate", req)


@pytest.mark.requirement("RFC7030-4.1.3-MUST-04")
def test_cacerts_has_root(server_bed: ServerDutBed) -> None:
    """The EST server MUST include the current root CA certificate in the response."""
    # Step 1: GET .../cacerts.
    _, wire = cacerts_exchange(server_bed)
    req = "RFC7030-4.1.3-MUST-04"
    answer = wire.expect_next(response_to(codec.CACERTS), req, "the answer to GET .../cacerts")
    if answer.get("http.response.code") != "200":
        inconclusive(f"frame {answer.number}: /cacerts was not successful, nothing to judge")
    # Step 2: the set holds a self-signed CA certificate.
    roots = [c for c in wire_certs(answer, req, strict=False) if self_signed(c)]
    check(roots, f"frame {answer.number}: no self-signed root CA certificate in /cacerts", req)


@pytest.mark.requirement("RFC7030-4.1.3-MUST-05")
def test_cacerts_builds_chain_of_issued(server_bed: ServerDutBed) -> None:
    """The EST server MUST include any additional certificates the client would need to
    build a chain from an EST CA-issued certificate to the current EST CA TA."""
    req = "RFC7030-4.1.3-MUST-05"
    # Step 1: GET .../cacerts, then enroll a fresh key with /simpleenroll.
    server_bed.start()
    peer = server_bed.client(auth="cert")
    peer.cacerts()
    post_waiting(peer, codec.SIMPLEENROLL, make_csr(generate_key(), "onboardcheck chain probe"))
    wire = server_bed.wire()
    ca_answer = wire.expect_next(response_to(codec.CACERTS), req, "the answer to /cacerts")
    issued = wire.expect_next(
        {"http.response.code": "200", "http.response_for.uri": lambda u: u.endswith("enroll")},
        req,
        "a successful /simpleenroll",
    )
    # Step 2: the issued certificate path-validates to a root with /cacerts alone.
    pool = wire_certs(ca_answer, req, strict=False)
    leaves = wire_certs(issued, req, strict=False)
    path = path_to_root(leaves[0], pool)
    check(
        path is not None,
        f"frame {issued.number}: the certificate issued to "
        f"{leaves[0].subject.rfc4514_string()} does not chain to a root through the "
        f"{len(pool)} certificate(s) of /cacerts (frame {ca_answer.number})",
        req,
    )


@pytest.mark.requirement("RFC7030-4.1.3-SHOULD-01")
@pytest.mark.ics("EST-SERVER-CA-KEY-UPDATE")
def test_cacerts_root_key_update(server_bed: ServerDutBed) -> None:
    """The EST server SHOULD include the three "Root CA Key Update" certificates
    OldWithOld, OldWithNew, and NewWithOld in the response chain.

    RFC 4210 §4.4 defines them: OldWithNew is the old root public key signed with the
    new private key, NewWithOld the new root public key signed with the old private key.
    They are found here by keys and signatures; names say nothing (all share one).
    """
    req = "RFC7030-4.1.3-SHOULD-01"
    # Step 1: the DUT is started in the middle of a root key update (start parameter
    # rollover=1, as the ICS option says); GET .../cacerts.
    _, wire = cacerts_exchange(server_bed, rollover="1")
    answer = wire.expect_next(response_to(codec.CACERTS), req, "the answer to GET .../cacerts")
    if answer.get("http.response.code") != "200":
        inconclusive(f"frame {answer.number}: /cacerts was not successful, nothing to judge")
    bag = wire_certs(answer, req, strict=False)
    # Step 2: two self-signed roots with different keys: OldWithOld and NewWithNew.
    roots = [c for c in bag if signed_with_key_of(c, c)]
    pairs = [(a, b) for a in roots for b in roots if spki(a) != spki(b)]
    check(pairs, f"frame {answer.number}: /cacerts holds {len(roots)} self-signed root(s), "
          "not an old and a new root key", req, frames=[answer.line()])

    def links(subject_key: x509.Certificate, signer: x509.Certificate) -> bool:
        return any(
            spki(c) == spki(subject_key) and not signed_with_key_of(c, c)
            and signed_with_key_of(c, signer)
            for c in bag
        )  # fmt: skip

    # Step 3: for one pair, the old key signed by the new (OldWithNew) and the new key
    # signed by the old (NewWithOld) are in the bag too.
    linked = [(a, b) for a, b in pairs if links(a, b) and links(b, a)]
    check(linked, f"frame {answer.number}: /cacerts holds {len(roots)} roots with different "
          "keys but no pair of link certificates (OldWithNew, NewWithOld) between them; "
          f"{len(bag)} certificate(s) in all", req, frames=[answer.line()])
