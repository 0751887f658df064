"""Named mutants of the reference EST server and client, each breaking one requirement.

A mutant is a small override of the reference: it flips a `ServerQuirks` /
`ClientQuirks` hook or sets a `ServerBehaviour` knob; the reference code consults these
at a few named points, so there is exactly one implementation to keep correct.
The self-test shows each conformance test failing on the mutant built to break it.

    peer = make_server(config, "pop-not-checked")        # an EstServerPeer, not started
    run_action("enroll", params, mutant="ignores-retry-after")
"""

from harness.protocols.est.mutants.base import WRONG_MEDIA_TYPE, Mutant
from harness.protocols.est.mutants.client import CLIENT_MUTANTS
from harness.protocols.est.mutants.server import SERVER_MUTANTS, make_server

__all__ = ["CLIENT_MUTANTS", "SERVER_MUTANTS", "WRONG_MEDIA_TYPE", "Mutant", "make_server"]
