"""What the reference DPP implementation claims (its ICS), as a DUT profile would.

The builtin adapter's DUT profile answers with these, so the suite runs every test
the reference implements; a mutant claims the same as the reference it bends.
"""

from __future__ import annotations

from typing import Any

_COMMON: dict[str, Any] = {
    "DPP-INITIATOR": True,
    "DPP-RESPONDER": True,
    "DPP-MUTUAL-AUTH": True,
    "DPP-CURVE-P384": True,
    "DPP-CURVE-P521": True,
    "DPP-TCP": True,
    "DPP-80211": False,  # the virtual medium is not in the reference DUT yet
    "DPP-PKEX": False,
    "DPP-CONNECTOR": True,
    "DPP-R2": True,
    "DPP-VERSION": "2",
}

REFERENCE_ICS: dict[str, dict[str, Any]] = {"enrollee": dict(_COMMON),
                                            "configurator": dict(_COMMON)}


def reference_ics(roles: list[str]) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for role in roles:
        answers.update(REFERENCE_ICS.get(role, {}))
    return answers
