"""TLS-layer checks of EST's wire requirements, and the helpers every check shares.

Split from `wire_checks` (which holds the HTTP-level checks and the registry) to keep
modules small; the functions here judge handshakes: versions, cipher suites,
certificates, and the tls-unique binding of CSRs.
"""

from __future__ import annotations

import functools
import subprocess
from collections.abc import Callable, Sequence

from cryptography import x509

from harness.protocols.est import codec
from harness.protocols.est.exchanges import EstCapture, Exchange, TlsSession
from harness.verdicts import Verdict
from harness.verify import CheckResult

Judge = Callable[[Exchange], str | None]  # a reason to fail, or None when it conforms

ENROLL = (codec.SIMPLEENROLL, codec.SIMPLEREENROLL)
TLS_1_1 = 0x0302
# RFC 9150 integrity-only suites: no confidentiality, though their names lack "NULL".
INTEGRITY_ONLY = {0xC0B4: "TLS_SHA256_SHA256", 0xC0B5: "TLS_SHA384_SHA384"}


def csr_of(e: Exchange) -> x509.CertificateSigningRequest | None:
    """The CSR of a request body, or None when it does not parse."""
    try:
        return codec.csr_from_body(e.request_body)
    except codec.CodecError:
        return None


def result(verdict: Verdict, reason: str, frames: Sequence[str] = ()) -> CheckResult:
    return CheckResult(verdict, reason, list(frames))


def nothing(cap: EstCapture, what: str, hidden: bool = True) -> CheckResult:
    """Inconclusive for lack of evidence; ``hidden`` adds how much HTTP stayed encrypted."""
    note = cap.hidden_note() if hidden else ""
    return result(Verdict.INCONCLUSIVE, f"the capture holds no {what}{note}")


def each(cap: EstCapture, items: Sequence[Exchange], what: str, ok: str, judge: Judge
          ) -> CheckResult:  # fmt: skip
    """Fail on the first exchange ``judge`` objects to; pass if there were some, all fine."""
    if not items:
        return nothing(cap, what)
    bad = [(e, why) for e in items if (why := judge(e))]
    if bad:
        e, why = bad[0]
        more = f" ({len(bad) - 1} more like it)" if len(bad) > 1 else ""
        return result(Verdict.FAIL, f"{e.describe()}: {why}{more}", e.frame_lines())
    frames = [line for e in items[:3] for line in e.frame_lines()]
    return result(Verdict.PASS, f"{len(items)} {what}: {ok}", frames)


def check_3_2_3_must_01(cap: EstCapture) -> CheckResult:
    def judge(e: Exchange) -> str | None:
        if e.tls is None:
            return "Authorization header sent over plain HTTP"
        if e.tls.version is None or e.tls.version < TLS_1_1:
            return f"Authorization header sent over {e.tls.version_name}"
        return None
    return each(cap, [e for e in cap.exchanges if e.authorization], "requests carrying an "
                 "Authorization header", "each inside a TLS 1.1+ session", judge)


# -- TLS (RFC 7030 §3.3) --------------------------------------------------------------------


def _session_lines(s: TlsSession) -> list[str]:
    return [f.line() for f in s.frames[:3]]


def check_3_3_must_01(cap: EstCapture) -> CheckResult:
    plain = [e for e in cap.exchanges if e.op and e.tls is None]
    if plain:
        return result(Verdict.FAIL, f"{plain[0].describe()}: EST request over plain HTTP",
                       plain[0].frame_lines())
    hellos = [s for s in cap.sessions.values() if s.offered_versions]
    if not hellos:
        return nothing(cap, "TLS ClientHello", hidden=False)
    low = [s for s in hellos if max(s.offered_versions) < TLS_1_1]
    if low:
        return result(Verdict.FAIL, f"{low[0].summary()}: ClientHello offers nothing above "
                       "TLS 1.0", _session_lines(low[0]))
    return result(Verdict.PASS, f"{len(hellos)} ClientHello(s), each offering TLS 1.1 or later",
                   _session_lines(hellos[0]))


def check_3_3_must_02(cap: EstCapture) -> CheckResult:
    plain = [e for e in cap.exchanges if e.op and e.tls is None and e.status is not None]
    if plain:
        return result(Verdict.FAIL, f"{plain[0].describe()}: EST answered over plain HTTP",
                       plain[0].frame_lines())
    hellos = [s for s in cap.sessions.values() if s.server_hello]
    if not hellos:
        return nothing(cap, "TLS ServerHello", hidden=False)
    low = [s for s in hellos if (s.version or 0) < TLS_1_1]
    if low:
        return result(Verdict.FAIL, f"{low[0].summary()}: server negotiated "
                       f"{low[0].version_name}", _session_lines(low[0]))
    versions = sorted({s.version_name for s in hellos})
    return result(Verdict.PASS, f"{len(hellos)} handshake(s) negotiated {', '.join(versions)}",
                   _session_lines(hellos[0]))


@functools.lru_cache(maxsize=1)
def _suite_names() -> dict[int, str]:
    """IANA cipher suite names as Wireshark knows them (its value strings)."""
    try:
        done = subprocess.run(["tshark", "-G", "values"], capture_output=True, timeout=60,
                              check=False)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return dict(INTEGRITY_ONLY)
    names = dict(INTEGRITY_ONLY)
    for line in done.stdout.decode("utf-8", "replace").splitlines():
        parts = line.split("\t")
        if len(parts) == 4 and parts[1] == "tls.handshake.ciphersuite" and parts[2].isdigit():
            names.setdefault(int(parts[2]), parts[3])
    return names


def _weak(code: int, anon: bool) -> bool:
    name = _suite_names().get(code, "")
    return code in INTEGRITY_ONLY or "_NULL_" in name or name.endswith("_NULL") or (
        anon and "_anon_" in name)


def _suite(code: int | None) -> str:
    return _suite_names().get(code, f"0x{code:04x}") if code is not None else "unknown"


def check_3_2_3_must_not_02(cap: EstCapture) -> CheckResult:
    offered = [s for s in cap.sessions.values() if any(_weak(c, True) for c in s.offered_suites)]
    if not offered:
        return nothing(cap, "ClientHello offering NULL or anonymous cipher suites", hidden=False)
    bad = [s for s in offered if s.cipher_suite is not None and _weak(s.cipher_suite, True)]
    if bad:
        return result(Verdict.FAIL, f"{bad[0].summary()}: server chose "
                       f"{_suite(bad[0].cipher_suite)}", _session_lines(bad[0]))
    return result(Verdict.PASS, f"{len(offered)} client(s) offered NULL/anon suites; the server "
                   "chose none", _session_lines(offered[0]))


def check_4_4_must_not_01(cap: EstCapture) -> CheckResult:
    items = [e for e in cap.of_op(codec.SERVERKEYGEN) if e.tls and e.tls.cipher_suite is not None]
    return each(cap, items, "serverkeygen exchanges with a visible cipher suite",
                 "each with a confidential cipher suite",
                 lambda e: f"negotiated {_suite(e.tls.cipher_suite)}"  # type: ignore[union-attr]
                 if _weak(e.tls.cipher_suite, False) else None)  # type: ignore[union-attr,arg-type]


def _profile_problem(cert: x509.Certificate, when: float) -> str | None:
    if cert.version != x509.Version.v3:
        return f"certificate is {cert.version.name}, not v3"
    start, end = cert.not_valid_before_utc.timestamp(), cert.not_valid_after_utc.timestamp()
    if not start <= when <= end:
        return "certificate was not within its validity when the capture was taken"
    try:
        exts = cert.extensions
    except x509.DuplicateExtension as exc:
        return f"duplicate extension {exc.oid.dotted_string}"
    except ValueError as exc:
        return f"extensions do not parse: {exc}"
    try:
        ca = exts.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        ca = False
    try:
        cert_sign = exts.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    except x509.ExtensionNotFound:
        cert_sign = False
    if cert_sign and not ca:  # RFC 5280 §4.2.1.3
        return "keyUsage keyCertSign without basicConstraints cA"
    return None


def check_3_3_1_must_02(cap: EstCapture) -> CheckResult:
    seen: dict[bytes, TlsSession] = {}
    for s in cap.sessions.values():
        if s.server_certs:
            seen.setdefault(s.server_certs[0], s)
    if not seen:
        return nothing(cap, "visible server Certificate message (TLS 1.3 needs the key log)")
    for der, s in seen.items():
        try:
            cert = x509.load_der_x509_certificate(der)
        except ValueError as exc:
            return result(Verdict.FAIL, f"{s.summary()}: server certificate does not parse: "
                           f"{exc}", _session_lines(s))
        problem = _profile_problem(cert, s.frames[0].time)
        if problem:
            return result(Verdict.FAIL, f"{s.summary()}: {problem}", _session_lines(s))
    first = next(iter(seen.values()))
    return result(Verdict.PASS, f"{len(seen)} server certificate(s): v3, within validity, "
                   "consistent keyUsage/basicConstraints", _session_lines(first))


def check_3_3_2_must_01(cap: EstCapture) -> CheckResult:
    for e in cap.of_op(*ENROLL):
        s = e.tls
        if s and s.cert_request and s.client_certs and not e.authorization and e.status in (
                200, 202):
            return result(Verdict.PASS, f"{e.describe()}: served to a client authenticated "
                           "only by its TLS certificate", e.frame_lines())
    return nothing(cap, "enrollment served to a certificate-only client (CertificateRequest, "
                    "client Certificate, no Authorization)")
