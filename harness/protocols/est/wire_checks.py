"""Offline checks of EST's wire-observable requirements, one function per requirement.

Each check takes the `EstCapture` rebuilt from a capture of two other implementations
and returns a `CheckResult`. A check only passes on evidence: with nothing to judge
(no such exchange, or the traffic was encrypted) it is inconclusive. Requirements whose
check needs a tester peer to provoke the behaviour (a 401 challenge, a bad certificate)
are judged when the capture happens to hold that situation, else inconclusive.
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Callable, Sequence

from asn1crypto import core
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import load_der_private_key

from harness.capture.frame import Frame
from harness.protocols.est import codec
from harness.protocols.est.exchanges import EstCapture, Exchange, build_capture
from harness.protocols.est.wire_tls import (
    ENROLL,
    check_3_2_3_must_01,
    check_3_2_3_must_not_02,
    check_3_3_1_must_02,
    check_3_3_2_must_01,
    check_3_3_must_01,
    check_3_3_must_02,
    check_4_4_must_not_01,
)
from harness.protocols.est.wire_tls import csr_of as _csr
from harness.protocols.est.wire_tls import each as _each
from harness.protocols.est.wire_tls import nothing as _nothing
from harness.protocols.est.wire_tls import result as _result
from harness.verdicts import Verdict
from harness.verify import CheckResult, NoTrafficError

Check = Callable[[EstCapture], CheckResult]

POST_OPS = (*ENROLL, codec.SERVERKEYGEN, codec.FULLCMC)
TLS_1_1 = 0x0302
# RFC 9150 integrity-only suites: no confidentiality, though their names lack "NULL".
INTEGRITY_ONLY = {0xC0B4: "TLS_SHA256_SHA256", 0xC0B5: "TLS_SHA384_SHA384"}
ID_CMC_CHANGE_SUBJECT_NAME = "1.3.6.1.5.5.7.7.36"  # RFC 6402 §2.2
# RFC 7030 §4.4.1.2: attributes asking for an encrypted server-generated key.
KEY_ENCRYPTION_ATTRS = {"1.2.840.113549.1.9.16.2.54", "1.2.840.113549.1.9.16.2.55"}
CHALLENGE_PASSWORD = "1.2.840.113549.1.9.7"


def _media(value: str | None) -> tuple[str, dict[str, str]] | None:
    if not value:
        return None
    try:
        return codec.parse_content_type(value)
    except codec.CodecError:
        return None


def _certs(e: Exchange) -> list[x509.Certificate]:
    return codec.parse_certs_only(codec.b64_decode(e.response_body))


def _certs_or_none(e: Exchange) -> list[x509.Certificate] | None:
    try:
        return _certs(e)
    except codec.CodecError:
        return None


def _csr_attr_oids(csr: x509.CertificateSigningRequest) -> set[str]:
    return {a.oid.dotted_string for a in csr.attributes}


def _spki(obj: x509.Certificate | x509.CertificateSigningRequest | PrivateKeyTypes) -> bytes:
    key = obj.public_key()
    return key.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def _same_key(a: x509.Certificate | x509.CertificateSigningRequest,
              b: x509.Certificate | x509.CertificateSigningRequest | PrivateKeyTypes) -> bool:
    return _spki(a) == _spki(b)


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def _is_root_ca(cert: x509.Certificate) -> bool:
    try:
        ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except (x509.ExtensionNotFound, ValueError):
        return False
    return ca and cert.subject == cert.issuer and _issued_by(cert, cert)


def _ok_status(cap: EstCapture, ops: Sequence[str], status: int = 200) -> list[Exchange]:
    return [e for e in cap.of_op(*ops) if e.status == status]


# -- paths and HTTP authentication (RFC 7030 §3.2) ------------------------------------------


def check_3_2_2_must_01(cap: EstCapture) -> CheckResult:
    items = [e for e in cap.exchanges if e.op and e.status is not None]
    return _each(cap, items, "answered EST operation requests", "none was answered 404",
                 lambda e: "answered 404 Not Found" if e.status == 404 else None)


def check_3_2_2_must_02(cap: EstCapture) -> CheckResult:
    items = [e for e in cap.exchanges if e.label is not None]
    return _each(cap, items, "requests with a CA label", "every label differs from the "
                 "operation path segments",
                 lambda e: f"CA label {e.label!r} is an operation name"
                 if e.label in codec.OPERATIONS else None)


def check_3_2_3_may_01(cap: EstCapture) -> CheckResult:
    def judge(e: Exchange) -> str | None:
        schemes = [v.split(None, 1)[0].lower() for v in e.response_headers.get(
            "www-authenticate", []) if v.strip()]
        return None if {"basic", "digest"} & set(schemes) else (
            "401 without a WWW-Authenticate header naming Basic or Digest")
    return _each(cap, [e for e in cap.exchanges if e.status == 401], "401 answers",
                 "each names Basic or Digest in WWW-Authenticate", judge)


# -- /cacerts (RFC 7030 §4.1) ---------------------------------------------------------------


def check_4_1_2_must_01(cap: EstCapture) -> CheckResult:
    def judge(e: Exchange) -> str | None:
        if e.method != "GET":
            return f"method {e.method}, not GET"
        return f"request carries a {len(e.request_body)}-byte body" if e.request_body else None
    return _each(cap, cap.of_op(codec.CACERTS), "/cacerts requests", "each a GET without body",
                 judge)


def check_4_1_2_must_02(cap: EstCapture) -> CheckResult:
    items = [e for e in cap.of_op(codec.CACERTS) if e.method == "GET" and e.status is not None]
    return _each(cap, items, "answered GET /cacerts", "each answered 200",
                 lambda e: f"answered {e.status}" if e.status != 200 else None)


def check_4_1_2_should_not_01(cap: EstCapture) -> CheckResult:
    items = [e for e in cap.of_op(codec.CACERTS) if e.status is not None and not e.authorization
             and e.tls is not None and e.tls.client_certs == []]
    return _each(cap, items, "GET /cacerts without client certificate or credentials",
                 "none refused with 401/403",
                 lambda e: f"answered {e.status}" if e.status in (401, 403) else None)


def check_4_1_3_must_01(cap: EstCapture) -> CheckResult:
    items = [e for e in cap.of_op(codec.CACERTS)
             if e.status and 200 <= e.status < 300 and e.response_body]
    return _each(cap, items, "/cacerts answers carrying a body", "each with status 200",
                 lambda e: f"status {e.status}, not 200" if e.status != 200 else None)


def _certs_only_problem(e: Exchange) -> str | None:
    media = _media(e.response_content_type)
    if media is None or media[0] != codec.PKCS7_MIME:
        return f"Content-Type {e.response_content_type!r}, not {codec.PKCS7_MIME}"
    smime = media[1].get("smime-type")
    if smime is not None and smime.lower() != "certs-only":
        return f"smime-type={smime}, not certs-only"
    try:
        if not _certs(e):
            return "certs-only message holds no certificate"
    except codec.CodecError as exc:
        return str(exc)
    return None


def check_4_1_3_must_03(cap: EstCapture) -> CheckResult:
    return _each(cap, _ok_status(cap, [codec.CACERTS]), "200 answers to /cacerts",
                 "each a base64 PKCS#7 certs-only (application/pkcs7-mime)", _certs_only_problem)


def check_4_1_3_must_04(cap: EstCapture) -> CheckResult:
    items = [e for e in _ok_status(cap, [codec.CACERTS]) if _certs_or_none(e)]
    return _each(cap, items, "parsable /cacerts answers", "each holds a self-signed root CA",
                 lambda e: None if any(_is_root_ca(c) for c in _certs(e))
                 else "no self-signed CA certificate among the CA certificates")


def _chain_problem(cert: x509.Certificate, pool: list[x509.Certificate]) -> str | None:
    current = cert
    for _ in range(len(pool) + 1):
        if current is not cert and _is_root_ca(current):
            return None
        issuer = next((c for c in pool if c.subject == current.issuer and c is not current
                       and _issued_by(current, c)), None)  # fmt: skip
        if issuer is None:
            return f"no /cacerts certificate issued {current.subject.rfc4514_string()}"
        current = issuer
    return "the /cacerts certificates form a loop"


def check_4_1_3_must_05(cap: EstCapture) -> CheckResult:
    pool = [c for e in _ok_status(cap, [codec.CACERTS]) for c in (_certs_or_none(e) or [])]
    if not pool:
        return _nothing(cap, "parsable /cacerts answer")
    items = [e for e in _ok_status(cap, ENROLL) if _certs_or_none(e)]
    return _each(cap, items, "issued certificates", "each chains to a root through /cacerts",
                 lambda e: _chain_problem(_certs(e)[0], pool))


# -- enrollment (RFC 7030 §4.2) -------------------------------------------------------------


def check_4_2_must_01(cap: EstCapture) -> CheckResult:
    items = [e for e in cap.of_op(*ENROLL) if e.method == "POST" and e.status is not None]
    return _each(cap, items, "answered enrollment POSTs", "none answered 404 or 405",
                 lambda e: f"answered {e.status}" if e.status in (404, 405) else None)


def _precedes(cap: EstCapture, op: str, what: str) -> CheckResult:
    enrolls = [e for e in cap.of_op(codec.SIMPLEENROLL) if e.method == "POST"]
    if not enrolls:
        return _nothing(cap, "POST /simpleenroll")
    first = enrolls[0]
    earlier = [e for e in cap.of_op(op) if e.method == "GET"
               and e.request.number < first.request.number]
    if earlier:
        return _result(Verdict.PASS, f"{earlier[0].describe()} precedes {first.describe()}",
                       earlier[0].frame_lines() + first.frame_lines())
    return _result(Verdict.INCONCLUSIVE, f"no GET /{op} before {first.describe()}; the capture "
                   f"cannot show whether the client {what}", first.frame_lines())


def check_4_2_should_01(cap: EstCapture) -> CheckResult:
    return _precedes(cap, codec.CACERTS, "started from an empty state")


def check_4_5_should_01(cap: EstCapture) -> CheckResult:
    return _precedes(cap, codec.CSRATTRS_OPERATION, "asked for CSR attributes earlier")


def check_4_2_1_must_01(cap: EstCapture) -> CheckResult:
    def judge(e: Exchange) -> str | None:
        media = _media(e.request_content_type)
        if e.method != "POST":
            return f"method {e.method}, not POST"
        if media is None or media[0] != codec.PKCS10:
            return f"Content-Type {e.request_content_type!r}, not {codec.PKCS10}"
        try:
            codec.csr_from_body(e.request_body)
        except codec.CodecError as exc:
            return str(exc)
        return None
    return _each(cap, cap.of_op(*ENROLL), "enrollment requests",
                 "each a POST of a base64 DER PKCS#10 (application/pkcs10)", judge)


def check_4_2_1_must_02(cap: EstCapture) -> CheckResult:
    items = [e for e in cap.of_op(*ENROLL) if _csr(e)]
    return _each(cap, items, "parsable CSRs", "each signature verifies with its own key",
                 lambda e: None if _csr(e).is_signature_valid  # type: ignore[union-attr]
                 else "CSR signature does not verify with its SubjectPublicKeyInfo")


def _san(obj: x509.Certificate | x509.CertificateSigningRequest) -> list[str]:
    try:
        ext = obj.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except (x509.ExtensionNotFound, ValueError):
        return []
    return sorted(str(n.value) for n in ext.value)


def check_4_2_2_must_01(cap: EstCapture) -> CheckResult:
    def judge(e: Exchange) -> str | None:
        csr = _csr(e)
        cert = x509.load_der_x509_certificate(e.tls.client_certs[0])  # type: ignore[union-attr,index]
        if csr is None or ID_CMC_CHANGE_SUBJECT_NAME in _csr_attr_oids(csr):
            return None
        if csr.subject != cert.subject:
            return (f"CSR subject {csr.subject.rfc4514_string()!r} differs from the renewed "
                    f"certificate's {cert.subject.rfc4514_string()!r}")
        return "CSR SubjectAltName differs from the renewed certificate's" if _san(
            csr) != _san(cert) else None
    items = [e for e in cap.of_op(codec.SIMPLEREENROLL)
             if _csr(e) and e.tls is not None and e.tls.client_certs]
    return _each(cap, items, "re-enroll CSRs with a visible client certificate",
                 "Subject and SubjectAltName kept", judge)


def check_4_2_3_must_01(cap: EstCapture) -> CheckResult:
    def judge(e: Exchange) -> str | None:
        media = _media(e.response_content_type)
        if media is None or media[0] != codec.PKCS7_MIME:
            return f"Content-Type {e.response_content_type!r}, not {codec.PKCS7_MIME}"
        smime = media[1].get("smime-type")
        return f"smime-type={smime}" if smime and smime.lower() != "certs-only" else None
    return _each(cap, _ok_status(cap, ENROLL), "successful enrollment answers",
                 f"each {codec.PKCS7_MIME}", judge)


def check_4_2_3_must_02(cap: EstCapture) -> CheckResult:
    def judge(e: Exchange) -> str | None:
        try:
            certs = _certs(e)
        except codec.CodecError as exc:
            return str(exc)
        if len(certs) != 1:
            return f"certs-only holds {len(certs)} certificates, not only the issued one"
        csr = _csr(e)
        return "issued certificate's key is not the CSR's" if csr and not _same_key(
            certs[0], csr) else None
    return _each(cap, _ok_status(cap, ENROLL), "successful enrollment answers",
                 "each a certs-only with exactly the issued certificate", judge)


def _csr_problem(e: Exchange) -> str | None:
    try:
        csr = codec.csr_from_body(e.request_body)
    except codec.CodecError as exc:
        return str(exc)
    return None if csr.is_signature_valid else "CSR signature does not verify"


def check_4_2_3_must_03(cap: EstCapture) -> CheckResult:
    items = [e for e in cap.of_op(*ENROLL) if e.status is not None and _csr_problem(e)]
    return _each(cap, items, "enrollment requests with a broken CSR", "each answered 4xx/5xx",
                 lambda e: f"broken CSR ({_csr_problem(e)}) answered {e.status}"
                 if e.status is not None and e.status < 400 else None)


def _retry_after_ok(value: str | None) -> bool:
    if value is None:
        return False
    if re.fullmatch(r"\s*\d+\s*", value):
        return True
    try:
        return email.utils.parsedate_to_datetime(value) is not None
    except (TypeError, ValueError):
        return False


def check_4_2_3_must_04(cap: EstCapture) -> CheckResult:
    items = [e for e in cap.of_op(*POST_OPS) if e.status == 202]
    return _each(cap, items, "202 answers", "each with a valid Retry-After",
                 lambda e: None if _retry_after_ok(e.retry_after) else
                 f"Retry-After is {e.retry_after!r}, not delta-seconds or an HTTP-date")


def check_4_2_3_must_05(cap: EstCapture) -> CheckResult:
    pairs: list[tuple[Exchange, Exchange, int]] = []
    for e in cap.of_op(*POST_OPS):
        if e.status != 202 or e.retry_after is None or not e.retry_after.strip().isdigit():
            continue
        # The next POST of the same client to the same operation: with tls-unique in the
        # CSR (RFC 7030 §3.5) the repeated CSR legitimately differs, so bodies are not compared.
        again = next((r for r in cap.of_op(e.op or "") if r.request.number > e.request.number
                      and r.request.src == e.request.src and r.method == "POST"), None)
        if again is not None:
            pairs.append((e, again, int(e.retry_after)))
    if not pairs:
        return _nothing(cap, "request repeated after a 202 with Retry-After")
    for first, again, wait in pairs:
        waited = again.request.time - (first.answer_time or first.request.time)
        if waited + 0.01 < wait:  # capture timestamps, 10 ms for their granularity
            return _result(Verdict.FAIL, f"{again.describe()} repeated {waited:.2f} s after the "
                           f"202, Retry-After was {wait} s",
                           first.frame_lines() + again.frame_lines())
    return _result(Verdict.PASS, f"{len(pairs)} repeat(s) after 202, each after Retry-After",
                   pairs[0][0].frame_lines() + pairs[0][1].frame_lines())


# -- bodies (RFC 8951) ----------------------------------------------------------------------


def _der_problem(body: bytes) -> str | None:
    try:
        der = codec.b64_decode(body)
        core.load(der, strict=True)
    except codec.CodecError as exc:
        return str(exc)
    except ValueError as exc:
        return f"base64 does not decode to DER: {exc}"
    return None


def check_8951_3_must_01(cap: EstCapture) -> CheckResult:
    def judge(e: Exchange) -> str | None:
        if e.op != codec.SERVERKEYGEN:
            return _der_problem(e.response_body)
        try:
            codec.parse_serverkeygen_response(e.response_content_type or "", e.response_body)
        except codec.CodecError as exc:
            return str(exc) if "base64" in str(exc) else None
        return None
    items = [e for e in cap.of_op(codec.CACERTS, *ENROLL, codec.CSRATTRS_OPERATION,
                                  codec.SERVERKEYGEN) if e.status == 200 and e.response_body]
    return _each(cap, items, "EST 200 answers with a body", "each base64 of DER", judge)


def check_8951_3_must_02(cap: EstCapture) -> CheckResult:
    items = [e for e in cap.of_op(*ENROLL, codec.SERVERKEYGEN) if e.request_body]
    result = _each(cap, items, "client POST bodies", "each base64 of DER",
                   lambda e: _der_problem(e.request_body))
    if result.verdict == Verdict.PASS:
        result.reason += " (how the client reads binary answers needs a tester server)"
    return result


def check_8951_5_1_may_01(cap: EstCapture) -> CheckResult:
    allowed = ("text/plain", codec.PKCS7_MIME)
    items = [e for e in cap.of_op(*ENROLL) if e.status is not None and e.status >= 400]
    return _each(cap, items, "enrollment error answers", "each pkcs7-mime, text/plain or untyped",
                 lambda e: None if e.response_content_type is None or (
                     (m := _media(e.response_content_type)) and m[0] in allowed)
                 else f"error body is {e.response_content_type!r}")


# -- serverkeygen and csrattrs (RFC 7030 §4.4, §4.5) ----------------------------------------


def _keygen(e: Exchange) -> codec.ServerKeygenResult:
    return codec.parse_serverkeygen_response(e.response_content_type or "", e.response_body)


def _keygen_or_none(e: Exchange) -> codec.ServerKeygenResult | None:
    try:
        return _keygen(e)
    except codec.CodecError:
        return None


def check_4_4_2_must_01(cap: EstCapture) -> CheckResult:
    def judge(e: Exchange) -> str | None:
        try:
            _keygen(e)
        except codec.CodecError as exc:
            return str(exc)
        return None
    return _each(cap, _ok_status(cap, [codec.SERVERKEYGEN]), "200 answers to /serverkeygen",
                 "each multipart/mixed with a key part and a certs-only part", judge)


def check_4_4_2_must_02(cap: EstCapture) -> CheckResult:
    def judge(e: Exchange) -> str | None:
        result = _keygen(e)
        if result.key_media_type != codec.PKCS8:
            return f"key part is {result.key_media_type}, not {codec.PKCS8}"
        try:
            key = load_der_private_key(result.private_key_der, None)
        except (ValueError, TypeError) as exc:
            return f"key part is not a DER PrivateKeyInfo: {exc}"
        if not any(_same_key(c, key) for c in result.certs):
            return "no returned certificate holds the returned key"
        return None
    items = [e for e in _ok_status(cap, [codec.SERVERKEYGEN]) if _keygen_or_none(e)
             and not (_csr(e) and KEY_ENCRYPTION_ATTRS & _csr_attr_oids(_csr(e)))]  # type: ignore[arg-type]
    return _each(cap, items, "serverkeygen answers to CSRs without key encryption",
                 f"each key an {codec.PKCS8} matching the certificate", judge)


def check_4_4_1_must_01(cap: EstCapture) -> CheckResult:
    items = [e for e in _ok_status(cap, [codec.SERVERKEYGEN]) if _keygen_or_none(e) and _csr(e)]
    return _each(cap, items, "serverkeygen answers to parsable CSRs",
                 "each certificate certifies a new key, not the CSR's",
                 lambda e: "the certificate holds the CSR's public key" if any(
                     _same_key(c, _csr(e)) for c in _keygen(e).certs) else None)


def check_4_5_2_must_01(cap: EstCapture) -> CheckResult:
    def judge(e: Exchange) -> str | None:
        if e.status == 200:
            return None if e.response_body else "200 with an empty body (204 means none)"
        return f"answered {e.status}" if e.status not in (204, 404) else None
    items = [e for e in cap.of_op(codec.CSRATTRS_OPERATION)
             if e.status is not None and (200 <= e.status < 300 or e.status == 404)]
    return _each(cap, items, "answered /csrattrs requests", "each 200 with a body or 204/404",
                 judge)


def check_4_5_2_must_02(cap: EstCapture) -> CheckResult:
    def judge(e: Exchange) -> str | None:
        media = _media(e.response_content_type)
        if media is None or media[0] != codec.CSRATTRS:
            return f"Content-Type {e.response_content_type!r}, not {codec.CSRATTRS}"
        try:
            codec.parse_csrattrs(codec.b64_decode(e.response_body))
        except codec.CodecError as exc:
            return str(exc)
        return None
    items = [e for e in _ok_status(cap, [codec.CSRATTRS_OPERATION]) if e.response_body]
    return _each(cap, items, "200 answers to /csrattrs", "each base64 DER CsrAttrs", judge)


CHECKS: dict[str, Check] = {
    "RFC7030-3.2.2-MUST-01": check_3_2_2_must_01,
    "RFC7030-3.2.2-MUST-02": check_3_2_2_must_02,
    "RFC7030-3.2.3-MAY-01": check_3_2_3_may_01,
    "RFC7030-3.2.3-MUST-NOT-02": check_3_2_3_must_not_02,
    "RFC7030-3.2.3-MUST-01": check_3_2_3_must_01,
    "RFC7030-3.3-MUST-01": check_3_3_must_01,
    "RFC7030-3.3-MUST-02": check_3_3_must_02,
    "RFC7030-3.3.1-MUST-02": check_3_3_1_must_02,
    "RFC7030-3.3.2-MUST-01": check_3_3_2_must_01,
    "RFC7030-4.1.2-MUST-01": check_4_1_2_must_01,
    "RFC7030-4.1.2-MUST-02": check_4_1_2_must_02,
    "RFC7030-4.1.2-SHOULD-NOT-01": check_4_1_2_should_not_01,
    "RFC7030-4.1.3-MUST-01": check_4_1_3_must_01,
    "RFC7030-4.1.3-MUST-03": check_4_1_3_must_03,
    "RFC7030-4.1.3-MUST-04": check_4_1_3_must_04,
    "RFC7030-4.1.3-MUST-05": check_4_1_3_must_05,
    "RFC7030-4.2-MUST-01": check_4_2_must_01,
    "RFC7030-4.2-SHOULD-01": check_4_2_should_01,
    "RFC7030-4.2.1-MUST-01": check_4_2_1_must_01,
    "RFC7030-4.2.1-MUST-02": check_4_2_1_must_02,
    "RFC7030-4.2.2-MUST-01": check_4_2_2_must_01,
    "RFC7030-4.2.3-MUST-01": check_4_2_3_must_01,
    "RFC7030-4.2.3-MUST-02": check_4_2_3_must_02,
    "RFC7030-4.2.3-MUST-03": check_4_2_3_must_03,
    "RFC7030-4.2.3-MUST-04": check_4_2_3_must_04,
    "RFC7030-4.2.3-MUST-05": check_4_2_3_must_05,
    "RFC7030-4.4-MUST-NOT-01": check_4_4_must_not_01,
    "RFC7030-4.4.1-MUST-01": check_4_4_1_must_01,
    "RFC7030-4.4.2-MUST-01": check_4_4_2_must_01,
    "RFC7030-4.4.2-MUST-02": check_4_4_2_must_02,
    "RFC7030-4.5-SHOULD-01": check_4_5_should_01,
    "RFC7030-4.5.2-MUST-01": check_4_5_2_must_01,
    "RFC7030-4.5.2-MUST-02": check_4_5_2_must_02,
    "RFC8951-3-MUST-01": check_8951_3_must_01,
    "RFC8951-3-MUST-02": check_8951_3_must_02,
    "RFC8951-5.1-MAY-01": check_8951_5_1_may_01,
}


def load(frames: Sequence[Frame], ports: Sequence[int], keylog: bool) -> EstCapture:
    """The checks' view of a decoded capture; NoTrafficError when it holds no EST traffic."""
    cap = build_capture(frames, ports, keylog)
    if not cap.sessions and not cap.exchanges:
        listed = ", ".join(str(p) for p in ports)
        raise NoTrafficError(f"no EST traffic: no TLS handshake or HTTP request to port(s) "
                             f"{listed}")
    return cap
