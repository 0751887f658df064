"""Mutants of the reference EST client: broken clients that show the client suite's
tests can fail."""

from __future__ import annotations

from collections.abc import Callable

from harness.protocols.est.mutants.base import WRONG_MEDIA_TYPE, Mutant
from harness.protocols.est.reference_client import ClientQuirks


def _quirk(**changes: object) -> Callable[[ClientQuirks], None]:
    def apply(quirks: ClientQuirks) -> None:
        for name, value in changes.items():
            if not hasattr(quirks, name):
                raise AttributeError(f"no client hook named {name!r}")
            setattr(quirks, name, value)

    return apply


def _client(
    name: str, breaks: list[str], description: str, apply: Callable[[ClientQuirks], None]
) -> tuple[str, Mutant[ClientQuirks]]:
    return name, Mutant(name, breaks, description, apply)


# Server authorization (§3.6) rests on certificate validation (§3.3.1) and the URI check
# (§3.6.1): a client that skips or abandons either talks to servers it must not, so it
# also sends credentials (§3.2.3), accepts answers (§3.6) and takes a server-generated
# key (§4.4) there. Nor does any choice of TA database matter to it: whatever Explicit
# TA is designated (§3.1), with the Implicit TA database disabled (§3.1) or dropped after
# /cacerts (§4.1.3), under an Implicit TA naming another host (§3.6.2, §3.3.1).
UNVERIFIED_SERVER = [
    "RFC7030-3.3.1-MUST-01",
    "RFC7030-3.6-MUST-01",
    "RFC7030-3.6.1-MUST-01",
    "RFC7030-3.2.3-MUST-NOT-01",
    "RFC7030-4.4-MUST-01",
    "RFC7030-3.1-MUST-02",
    "RFC7030-3.1-MUST-03",
    "RFC7030-3.6.2-MUST-01",
    "RFC7030-3.3.1-MUST-03",
    "RFC7030-4.1.3-SHOULD-02",
]

CLIENT_MUTANTS: dict[str, Mutant[ClientQuirks]] = dict(
    [
        _client(
            "no-server-auth",
            list(UNVERIFIED_SERVER),
            "Does not validate the server's certificate at all (accepts any TLS server).",
            _quirk(verify_server=False),
        ),
        _client(
            "no-hostname-check",
            # no URI check under Implicit TAs either (§3.6.2), where a certificate naming
            # another host is then accepted, id-kp-cmcRA or not (§3.3.1 distinction)
            [
                "RFC7030-3.6.1-MUST-01",
                "RFC7030-3.6-MUST-01",
                "RFC7030-3.6.2-MUST-01",
                "RFC7030-3.3.1-MUST-03",
            ],
            "Validates the chain but not that the certificate names the URL's host "
            "(RFC 6125 check skipped).",
            _quirk(check_hostname=False),
        ),
        _client(
            "basic-to-unverified-server",
            list(UNVERIFIED_SERVER),
            "When the server's certificate is rejected it carries on unverified and answers "
            "the server's 401 Basic challenge with its password.",
            _quirk(fallback_unverified=True),
        ),
        _client(
            "wrong-csr-content-type",
            ["RFC7030-4.2.1-MUST-01"],
            f"POSTs the CSR with Content-Type {WRONG_MEDIA_TYPE} instead of application/pkcs10.",
            _quirk(csr_content_type=WRONG_MEDIA_TYPE),
        ),
        _client(
            "csr-not-base64",
            # RFC 7030 §4.2.1 itself names the base64 encoding of the PKCS#10 body
            ["RFC8951-3-MUST-02", "RFC7030-4.2.1-MUST-01"],
            "POSTs the CSR as binary DER instead of base64.",
            _quirk(csr_base64=False),
        ),
        _client(
            "accepts-binary-der",
            ["RFC8951-3-MUST-02"],
            "Installs a certs-only answer sent as binary DER instead of refusing it as not base64.",
            _quirk(require_base64=False),
        ),
        _client(
            "ignores-retry-after",
            ["RFC7030-4.2.3-MUST-05"],
            "After a 202 it retries at once instead of waiting at least Retry-After.",
            _quirk(honour_retry_after=False),
        ),
        _client(
            "reenroll-changes-subject",
            ["RFC7030-4.2.2-MUST-01"],
            "Re-enrolls with a different subject than the certificate being renewed.",
            _quirk(keep_reenroll_identity=False),
        ),
        _client(
            "pop-stale-tls-unique",
            # the CSR then embeds no tls-unique of its own connection (§3.5 SHOULD)
            ["RFC7030-3.5-SHOULD-01"],
            "Puts the tls-unique of an earlier connection into challengePassword instead of "
            "the one of the connection carrying the CSR.",
            _quirk(pop_from_other_connection=True),
        ),
        _client(
            "csr-signed-with-other-key",
            ["RFC7030-4.2.1-MUST-02"],
            "Signs the first CSR of each request with a key other than the one it certifies; "
            "after the server's 400 it sends a properly signed CSR (so enrollment completes).",
            _quirk(csr_signed_by_other_key=True),
        ),
        _client(
            "reenroll-with-idevid",
            ["RFC7030-3.3.2-MUST-03"],
            "Re-enrolls over a TLS connection authenticated with the IDevID instead of the "
            "certificate being renewed.",
            _quirk(reenroll_with_idevid=True),
        ),
        _client(
            "cacerts-error-installs",
            ["RFC7030-4.1.3-MUST-02"],
            "Writes its explicit TA store before looking at the /cacerts status: a non-200 "
            "answer leaves the bootstrap trust anchor installed as explicit TA.",
            _quirk(install_cacerts_on_error=True),
        ),
        _client(
            "cacerts-no-path-validation",
            ["RFC7030-4.1.3-MUST-07"],
            "Installs every /cacerts certificate, also those without a path to its trust anchor.",
            _quirk(validate_cacerts=False),
        ),
        _client(
            "strict-base64",
            ["RFC8951-3.1-SHOULD-02"],
            "Takes base64 bodies with LF line breaks only; refuses spaces, tabs and CR in them.",
            _quirk(tolerate_blanks=False),
        ),
        _client(
            "skips-cacerts",
            ["RFC7030-4.2-SHOULD-01"],
            "Enrolls from an empty state without fetching /cacerts first.",
            _quirk(fetch_cacerts_first=False),
        ),
        _client(
            "skips-csrattrs",
            ["RFC7030-4.5-SHOULD-01"],
            "Builds the CSR without requesting /csrattrs (uses only what it stored before).",
            _quirk(fetch_csrattrs_first=False),
        ),
        _client(
            "cacerts-get-with-body",
            ["RFC7030-4.1.2-MUST-01"],
            "Sends its /cacerts GET with a request body (the GET carries no body, §4.1.2).",
            _quirk(cacerts_request_body=b"cacerts please"),
        ),
        _client(
            "cacerts-keeps-roots-only",
            ["RFC7030-3.1-MUST-01"],
            "Parses the /cacerts bag but keeps only its self-signed certificates: the EST CA "
            "(an intermediate) is lost.",
            _quirk(keep_cacerts_roots_only=True),
        ),
        _client(
            "copies-unknown-csrattrs",
            ["RFC7030-4.5.2-MUST-03"],
            "Puts every /csrattrs item it does not recognise into its CSR as an attribute "
            "instead of ignoring it.",
            _quirk(copy_unknown_csrattrs=True),
        ),
        _client(
            "tls-1-0-first",
            # against a TLS 1.0-only server its first handshake succeeds, so the 401 is
            # answered with Basic in that TLS 1.0 session (§3.2.3)
            ["RFC7030-3.3-MUST-01", "RFC7030-3.2.3-MUST-01"],
            "Opens each action with a ClientHello offering TLS 1.0 alone (security level 0); "
            "when that handshake fails it retries with TLS 1.2 or later.",
            _quirk(tls_1_0_first=True),
        ),
        _client(
            "refuses-root-key-update",
            ["RFC7030-4.1.3-MUST-06"],
            "Refuses a /cacerts bag holding two self-signed certificates of one name, as "
            "during a root CA key update (OldWithOld and NewWithNew).",
            _quirk(refuse_root_key_update=True),
        ),
        _client(
            "no-redirects",
            ["RFC7030-3.2.1-SHOULD-01"],
            "Takes a same-origin 3xx as the final answer instead of repeating the request "
            "at its Location.",
            _quirk(follow_redirects=False),
        ),
        _client(
            "accepts-tls-1-0",
            ["RFC7030-3.2.3-MUST-01"],
            "Offers TLS 1.3 down to TLS 1.0 (security level 0); a server that picks TLS 1.0 "
            "gets its HTTP Basic password in that session.",
            _quirk(accept_tls_1_0=True),
        ),
        _client(
            "resends-after-401",
            ["RFC7030-3.2.3-MUST-02"],
            "Without credentials, answers a 401 by sending the same request twice more on "
            "the same connection before giving up.",
            _quirk(resend_after_401=2),
        ),
        _client(
            "basic-auth-only",
            ["RFC7030-3.2.3-SHOULD-01"],
            "Answers HTTP Basic challenges only; a Digest-only 401 ends the action.",
            _quirk(answer_digest=False),
        ),
        _client(
            "empty-username-no-credentials",
            ["RFC7030-3.2.3-MAY-02"],
            "Treats an empty username as no credentials at all, so a password-only "
            "credential is never sent.",
            _quirk(empty_username_credential=False),
        ),
        _client(
            "enroll-basic-only",
            ["RFC7030-3.3.2-MAY-01"],
            "Enrolls with HTTP Basic alone, never presenting the IDevID it was given.",
            _quirk(enroll_with_idevid=False),
        ),
        _client(
            "pins-first-ta",
            ["RFC7030-3.1-MUST-02"],
            "Keeps the first trust anchor it was ever given as its only Explicit TA and "
            "ignores every later designation.",
            _quirk(pin_first_ta=True),
        ),
        _client(
            "implicit-ta-always-on",
            ["RFC7030-3.1-MUST-03"],
            "Uses its Implicit TA database even when it is disabled.",
            _quirk(implicit_always=True),
        ),
        _client(
            "implicit-ta-no-uri-check",
            # a certificate naming another host is accepted under an Implicit TA, with
            # id-kp-cmcRA too: the §3.3.1 distinction is lost as well
            ["RFC7030-3.6.2-MUST-01", "RFC7030-3.3.1-MUST-03"],
            "Skips the RFC 6125 URI check when an Implicit TA validated the server.",
            _quirk(implicit_check_hostname=False),
        ),
        _client(
            "implicit-ta-honours-cmcra",
            ["RFC7030-3.3.1-MUST-03"],
            "Lets id-kp-cmcRA authorize a server whose certificate chains to an Implicit TA "
            "(only an Explicit TA may).",
            _quirk(cmcra_under_implicit=True),
        ),
        _client(
            "implicit-ta-kept-after-cacerts",
            ["RFC7030-4.1.3-SHOULD-02"],
            "Goes on authenticating the server with its Implicit TA database after /cacerts "
            "gave it an Explicit TA.",
            _quirk(implicit_after_cacerts=True),
        ),
        _client(
            "bootstrap-enrolls-provisionally",
            # the provisional connection then carries more than /cacerts (§4.1.1 MAY-01)
            ["RFC7030-4.1.1-MUST-NOT-01", "RFC7030-4.1.1-MAY-01"],
            "Bootstrapping, it POSTs its CSR on the provisional connection right after "
            "/cacerts, before checking the fingerprint.",
            _quirk(bootstrap_enroll_provisional=True),
        ),
        _client(
            "bootstrap-no-fingerprint-check",
            ["RFC7030-4.1.1-MUST-NOT-01"],
            "Bootstrapping, it installs the /cacerts answer without comparing the "
            "fingerprint and enrolls.",
            _quirk(bootstrap_check_fingerprint=False),
        ),
    ]
)
