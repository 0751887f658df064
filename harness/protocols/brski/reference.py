"""What the reference BRSKI roles claim (their ICS), as a DUT profile would, and the PEM
files a reference DUT and the suite hand each other.

The reference pledge retries after a 202 (Retry-After limited to 60 s, the same
request) and follows redirections to one other origin at most (RFC 8995 §5.6), so it
claims both options; it is given the registrar's URL (no discovery).
"""

from __future__ import annotations

from typing import Any

REFERENCE_ICS: dict[str, dict[str, Any]] = {
    "pledge": {
        "BRSKI-PLEDGE-RETRY-AFTER": True,
        "BRSKI-PLEDGE-REDIRECT": True,
        "BRSKI-PLEDGE-TELEMETRY": True,
    },
    "registrar": {},
    "masa": {},
}


def reference_ics(roles: list[str]) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for role in roles:
        answers.update(REFERENCE_ICS.get(role, {}))
    return answers
