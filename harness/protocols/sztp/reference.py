"""What the reference bootstrap server claims (its ICS), as a DUT profile would; a
mutant claims the same as the reference it bends."""

from __future__ import annotations

from typing import Any

REFERENCE_ICS: dict[str, dict[str, Any]] = {
    "bootstrap-server": {
        "SZTP-SERVER-SIGNED-DATA": True,
        "SZTP-SERVER-REPORT-PROGRESS": True,
        "SZTP-SERVER-ACTIVATION-CODE": True,
    },
    "device": {
        "SZTP-DEVICE-SIGNED-DATA": True,
        "SZTP-DEVICE-REPORT-PROGRESS": True,
        "SZTP-DEVICE-ENCRYPTED": True,
    },
}


def reference_ics(roles: list[str]) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for role in roles:
        answers.update(REFERENCE_ICS.get(role, {}))
    return answers
