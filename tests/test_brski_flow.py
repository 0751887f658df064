"""BRSKI (RFC 8995) on loopback: reference pledge -> registrar -> MASA -> EST enrollment.

Each test runs its own MASA and registrar and leaves one capture.pcapng with the TLS
key log (tls.keylog) beside it in its tmp_path. Expected values come from the
certificates the test made and from third-party tools: openssl verifies the voucher's
CMS signature and the LDevID's chain, tshark decrypts the capture with the key log.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from harness.capture.decode import decode_options
from harness.protocols.brski.common import JSON, REQUESTVOUCHER, VOUCHER_CMS_JSON, StatusReport
from harness.protocols.brski.errors import (
    EnrollmentError,
    RequestRefused,
    VoucherRejected,
)
from harness.protocols.brski.masa import MasaBehaviour, MasaQuirks
from harness.protocols.brski.pledge import PledgeBehaviour, PledgeQuirks
from harness.protocols.brski.registrar import RegistrarBehaviour
from harness.protocols.brski.testbed import PLEDGE_SERIAL, BrskiBed
from harness.protocols.est.client import EstClientPeer

openssl = shutil.which("openssl")
tshark = shutil.which("tshark")
needs_openssl = pytest.mark.skipif(openssl is None, reason="openssl CLI not installed")
needs_tshark = pytest.mark.skipif(tshark is None, reason="tshark not installed")


@pytest.fixture
def bed(tmp_path: Path) -> Iterator[BrskiBed]:
    with BrskiBed(tmp_path) as found:
        yield found


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _decrypted_requests(bed: BrskiBed, keylog: Path | None) -> list[tuple[int, str, str]]:
    """(server port, method, URI) of every HTTP request tshark decrypts in the capture."""
    pcap = bed.wire()
    assert pcap.parent == bed.keylog.parent and bed.keylog.stat().st_size > 0
    done = subprocess.run(
        [tshark, "-n", "-r", str(pcap), *decode_options(keylog, bed.ports),
         "-Y", "http.request", "-T", "fields",
         "-e", "tcp.dstport", "-e", "http.request.method", "-e", "http.request.uri"],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    rows = [line.split("\t") for line in done.stdout.splitlines() if line.strip()]
    return [(int(port), method, uri) for port, method, uri in rows]


def _enroll_attempts(bed: BrskiBed) -> list[str]:
    assert bed.registrar is not None
    return [e.path for e in bed.registrar.exchanges if e.path.endswith("/simpleenroll")]


# --- the chained flow ----------------------------------------------------------------------


@needs_openssl
@needs_tshark
def test_flow_pledge_registrar_masa_est(bed: BrskiBed, tmp_path: Path) -> None:
    bed.start()
    assert bed.registrar is not None and bed.masa is not None and bed.idevid is not None
    pki = bed.pki
    result = bed.pledge().run()

    # The voucher: openssl verifies the MASA's CMS signature up to the manufacturer CA.
    (tmp_path / "voucher.der").write_bytes(result.voucher_cms)
    (tmp_path / "manufacturer.pem").write_bytes(_pem(pki.manufacturer.cert))
    verified = subprocess.run(
        [openssl, "cms", "-verify", "-inform", "DER", "-in", str(tmp_path / "voucher.der"),
         "-CAfile", str(tmp_path / "manufacturer.pem"), "-purpose", "any"],
        capture_output=True, timeout=30, check=False,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stderr.decode()
    leaves = json.loads(verified.stdout)["ietf-voucher:voucher"]
    assert leaves["serial-number"] == PLEDGE_SERIAL
    assert base64.b64decode(leaves["pinned-domain-cert"]) == pki.domain_ca.cert.public_bytes(
        serialization.Encoding.DER
    )
    assert base64.b64decode(leaves["nonce"]) == result.request.nonce

    # Knowledge imparted: the pinned domain CA, and an LDevID that openssl chains to it.
    assert result.pinned == pki.domain_ca.cert
    assert result.registrar_cert == pki.registrar.cert
    (tmp_path / "domain.pem").write_bytes(_pem(result.pinned))
    (tmp_path / "ldevid.pem").write_bytes(_pem(result.ldevid.cert))
    chain = subprocess.run(
        [openssl, "verify", "-CAfile", str(tmp_path / "domain.pem"), str(tmp_path / "ldevid.pem")],
        capture_output=True, timeout=30, check=False,
    )  # fmt: skip
    assert chain.returncode == 0, chain.stderr.decode()
    assert result.ldevid.cert.public_key() == result.ldevid.key.public_key()
    # What the registrar was configured to ask: ecdsa-with-SHA256 (RFC 5758) and
    # id-at-serialNumber (X.520, RFC 4519), which its CSR check then enforces.
    assert [a.oid for a in result.csrattrs] == ["1.2.840.10045.4.3.2", "2.5.4.5"]

    # Follow-up: mutual TLS with the LDevID, the pinned CA as the only trust anchor.
    follow = EstClientPeer(
        f"https://127.0.0.1:{bed.registrar_port}/.well-known/est", [result.pinned],
        client=result.ldevid, verify_hostname=False,
    )  # fmt: skip
    assert follow.cacerts().ok
    last = bed.registrar.exchanges[-1]
    assert last.path.endswith("/cacerts")
    assert last.client_subject == result.ldevid.cert.subject.rfc4514_string()

    # The registrar found the MASA in the IDevID's MASA URI extension.
    masa_url = f"https://127.0.0.1:{bed.masa_port}/.well-known/brski"
    assert [v.masa_url for v in bed.registrar.vouchers] == [masa_url]

    # Telemetry reached the registrar; the MASA logged the voucher (its audit log).
    assert [(s, r.status) for s, r in bed.registrar.voucher_status] == [(PLEDGE_SERIAL, True)]
    assert [(s, r.status) for s, r in bed.registrar.enroll_status] == [(PLEDGE_SERIAL, True)]
    audit = EstClientPeer(
        f"https://127.0.0.1:{bed.masa_port}/.well-known/brski", [pki.masa_web_root.cert],
        verify_hostname=False,
    ).request("GET", "requestauditlog")  # fmt: skip
    assert audit.ok and audit.media_type == JSON
    events = json.loads(audit.body)["events"]
    ski = pki.domain_ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert [e["domainID"] for e in events] == [base64.b64encode(ski.value.digest).decode()]

    # The capture: tshark decrypts every request with the key log beside it.
    assert _decrypted_requests(bed, None) == []  # without the key log: TLS only
    requests = _decrypted_requests(bed, bed.keylog)
    by_port = {(port, method, uri) for port, method, uri in requests}
    assert (bed.registrar_port, "POST", REQUESTVOUCHER) in by_port
    assert (bed.masa_port, "POST", REQUESTVOUCHER) in by_port
    assert (bed.registrar_port, "POST", "/.well-known/est/simpleenroll") in by_port
    assert (bed.registrar_port, "POST", "/.well-known/brski/voucher_status") in by_port
    assert (bed.registrar_port, "POST", "/.well-known/brski/enrollstatus") in by_port


def test_nonceless_request_gets_a_nonceless_voucher(bed: BrskiBed) -> None:
    bed.start()
    result = bed.pledge(PledgeBehaviour(no_nonce=True)).run()
    assert result.voucher.nonce is None
    assert result.voucher.expires_on is not None
    assert result.voucher.created_on is not None
    assert result.voucher.expires_on > result.voucher.created_on


# --- broken behaviour stops the flow where it must -----------------------------------------


def _rejected(bed: BrskiBed, check: str, **pledge: object) -> VoucherRejected:
    with pytest.raises(VoucherRejected) as caught:
        bed.pledge(**pledge).run()  # type: ignore[arg-type]
    assert caught.value.check == check, str(caught.value)
    assert bed.registrar is not None
    assert [r.status for _, r in bed.registrar.voucher_status] == [False]
    assert _enroll_attempts(bed) == []
    return caught.value


def test_voucher_for_another_serial_rejected(bed: BrskiBed) -> None:
    bed.start(masa=MasaBehaviour(other_serial="ONBC-SOMEONE-ELSE"))
    _rejected(bed, "serial-number")


def test_pinned_domain_cert_not_chaining_the_registrar_rejected(bed: BrskiBed) -> None:
    bed.start(masa=MasaBehaviour(pin_cert=bed.pki.other_domain.cert))
    _rejected(bed, "pinned-domain-cert")


def test_stale_nonce_rejected(bed: BrskiBed) -> None:
    bed.start()
    bed.pledge().run()  # a first request, whose nonce the MASA then replays
    assert bed.masa is not None and bed.registrar is not None
    bed.masa.masa_behaviour.stale_nonce = True
    with pytest.raises(VoucherRejected) as caught:
        bed.pledge().run()
    assert caught.value.check == "nonce"
    assert [r.status for _, r in bed.registrar.voucher_status] == [True, False]
    assert len(_enroll_attempts(bed)) == 1  # the first flow's only


def test_nonceless_voucher_for_a_nonce_request_rejected(bed: BrskiBed) -> None:
    bed.start(masa=MasaBehaviour(ignore_nonce=True))
    _rejected(bed, "nonce")


def test_broken_masa_signature_rejected(bed: BrskiBed) -> None:
    bed.start(masa=MasaBehaviour(wrong_signing_key=True))
    _rejected(bed, "signature")


def test_voucher_signed_outside_the_manufacturer_rejected(bed: BrskiBed) -> None:
    bed.start()
    assert bed.masa is not None
    bed.masa.masa.signer = bed.pki.registrar  # a valid signature by the wrong party
    _rejected(bed, "trust-anchor")


def test_masa_refuses_rvr_with_proximity_registrar_cert(bed: BrskiBed) -> None:
    bed.start(registrar=RegistrarBehaviour(forward_proximity=True))
    with pytest.raises(RequestRefused) as caught:
        bed.pledge().run()
    assert caught.value.stage == "requestvoucher" and caught.value.status == 400
    assert bed.masa is not None and bed.registrar is not None
    refusal = bed.masa.exchanges[-1]
    assert refusal.status == 400 and "proximity-registrar-cert" in refusal.note
    assert bed.masa.vouchers == [] and bed.masa.audit_log == []
    assert _enroll_attempts(bed) == []


def test_registrar_refuses_pvr_without_proximity(bed: BrskiBed) -> None:
    bed.start()
    with pytest.raises(RequestRefused) as caught:
        bed.pledge(PledgeBehaviour(omit_proximity=True)).run()
    assert caught.value.status == 403 and caught.value.by == "registrar"
    assert bed.masa is not None and bed.masa.exchanges == []  # never forwarded


def test_registrar_enrolls_no_idevid_without_voucher(bed: BrskiBed) -> None:
    bed.start()
    assert bed.registrar is not None
    with pytest.raises(EnrollmentError) as caught:
        bed.pledge().enroll(bed.pki.domain_ca.cert)
    assert caught.value.stage == "simpleenroll" and "403" in caught.value.reason
    assert bed.registrar.issued == []


# --- the knobs bend the references as named ------------------------------------------------


def test_pledge_mutant_accepts_another_serial(bed: BrskiBed) -> None:
    bed.start(masa=MasaBehaviour(other_serial="ONBC-SOMEONE-ELSE"))
    result = bed.pledge(quirks=PledgeQuirks(accept_other_serial=True)).run()
    assert result.voucher.serial_number == "ONBC-SOMEONE-ELSE"


def test_pledge_mutant_skipping_pinning_fails_later_at_est_tls(bed: BrskiBed) -> None:
    bed.start(masa=MasaBehaviour(pin_cert=bed.pki.other_domain.cert))
    with pytest.raises(EnrollmentError) as caught:
        bed.pledge(quirks=PledgeQuirks(skip_pinning=True)).run()
    assert caught.value.stage == "est-tls"
    assert _enroll_attempts(bed) == []


def test_masa_mutant_accepts_forwarded_proximity(bed: BrskiBed) -> None:
    bed.start(
        masa_quirks=MasaQuirks(accept_proximity_in_rvr=True),
        registrar=RegistrarBehaviour(forward_proximity=True),
    )
    assert bed.pledge().run().voucher.serial_number == PLEDGE_SERIAL


# --- hostile input gets a typed answer, never a crash ---------------------------------------


def test_hostile_requests_answered(bed: BrskiBed) -> None:
    bed.start()
    assert bed.registrar is not None and bed.idevid is not None
    registrar = EstClientPeer(f"https://127.0.0.1:{bed.registrar_port}/.well-known/brski", None,
                              client=bed.idevid)  # fmt: skip
    masa = EstClientPeer(f"https://127.0.0.1:{bed.masa_port}/.well-known/brski", None)
    cms = {"Content-Type": VOUCHER_CMS_JSON}
    assert registrar.request("POST", "requestvoucher", cms, b"\x30\x03junk").status == 403
    assert registrar.request("POST", "requestvoucher", {"Content-Type": JSON}, b"{}").status == 415
    assert registrar.request("GET", "requestvoucher").status == 405
    status = {"Content-Type": JSON}
    assert registrar.request("POST", "voucher_status", status, b"[1,").status == 400
    assert registrar.request("POST", "voucher_status", status, b'{"version":1}').status == 400
    good = StatusReport(1, True).to_json()
    assert registrar.request("POST", "enrollstatus", status, good).status == 200
    assert masa.request("POST", "requestvoucher", cms, b"not CMS").status == 403
    assert masa.request("POST", "requestvoucher", {**cms, "Accept": "text/html"}, b"").status == 406
    assert masa.request("GET", "/.well-known/est/cacerts").status == 404
    anonymous = EstClientPeer(f"https://127.0.0.1:{bed.registrar_port}/.well-known/brski", None)
    assert anonymous.request("POST", "requestvoucher", cms, b"x").status == 401


@needs_openssl
def test_idevid_masa_url_extension_read_by_openssl(tmp_path: Path) -> None:
    from harness.protocols.brski.testbed import BrskiPkiSet

    idevid = BrskiPkiSet.create().idevid("masa.example.com:8443")
    (tmp_path / "idevid.pem").write_bytes(_pem(idevid.cert))
    shown = subprocess.run(
        [openssl, "asn1parse", "-in", str(tmp_path / "idevid.pem")],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if "1.3.6.1.5.5.7.1.32" in line)
    # The extnValue OCTET STRING that follows holds the IA5String (tag 0x16).
    value = next(line for line in lines[at:] if "OCTET STRING" in line)
    der = bytes.fromhex(value.rsplit("[HEX DUMP]:", 1)[1])
    assert der == b"\x16\x15masa.example.com:8443"
