"""What the reference EST implementations claim (their ICS), as a DUT profile would.

The builtin adapter's DUT profile answers with these, so the suite runs every test
the reference implements; a mutant claims the same as the reference it bends.
"""

from __future__ import annotations

from typing import Any

# The CA label (RFC 7030 §3.2.2) the reference server serves besides its base path.
REFERENCE_CA_LABEL = "reference-ca"

REFERENCE_ICS: dict[str, dict[str, Any]] = {
    "client": {
        "EST-CLIENT-CERT-AUTH": True,
        "EST-CLIENT-HTTP-AUTH": True,
        "EST-CLIENT-EMPTY-USERNAME": True,
        "EST-CLIENT-IMPLICIT-TA": True,  # ONBOARDCHECK_IMPLICIT_TAS, when enabled
        "EST-CLIENT-BOOTSTRAP": True,  # ONBOARDCHECK_BOOTSTRAP_FINGERPRINT
        "EST-CLIENT-CSRATTRS": True,
        "EST-CLIENT-SIMPLEREENROLL": True,
        "EST-CLIENT-SERVERKEYGEN": True,
        "EST-CLIENT-POP-LINKING": True,
        "EST-CLIENT-RETRY-AFTER": True,
        "EST-TLS-VERSION": "1.3",
    },
    "server": {
        "EST-SERVER-HTTP-AUTH": True,
        "EST-SERVER-LABEL": REFERENCE_CA_LABEL,
        "EST-SERVER-CSRATTRS": True,
        "EST-SERVER-SIMPLEREENROLL": True,
        "EST-SERVER-SERVERKEYGEN": True,
        "EST-SERVER-FULLCMC": True,  # one PKCS#10 per Full PKI Request
        "EST-SERVER-REQUIRES-POP": True,  # start(pop="1")
        "EST-SERVER-MANUAL-APPROVAL": True,  # start(pending="1")
        "EST-SERVER-CA-KEY-UPDATE": True,  # start(rollover="1")
        "EST-TLS-VERSION": "1.3",
    },
}


def reference_ics(roles: list[str]) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for role in roles:
        answers.update(REFERENCE_ICS.get(role, {}))
    return answers
