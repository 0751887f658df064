"""Teardown of this process's test networks at exit and on SIGTERM/SIGINT.

Every backend registers the networks it opens under a key (``<backend>:<tag>``);
``close_all()`` closes them. A SIGKILLed run cannot do this: each backend's ``clean()``
(and its next ``open()``) removes what a dead owner left.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import threading
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.backends.base import TestNetwork

log = logging.getLogger(__name__)

_live: dict[str, TestNetwork] = {}
_live_pid = os.getpid()
_previous: dict[int, object] = {}
_handlers_lock = threading.Lock()


def close_all() -> None:
    """Tear down this process's test networks.

    Forked children (pyroute2 forks helpers, and kills them with a signal) inherit
    ``_live``, the handlers and atexit: only the process that opened a network may
    tear it down.
    """
    if os.getpid() != _live_pid:
        return
    for network in list(_live.values()):
        try:
            network.close()
        except Exception as exc:  # teardown of the others must still happen
            log.warning("teardown of test network %s failed: %s", network.campaign_id, exc)


def register(key: str, network: TestNetwork) -> None:
    """Close ``network`` at exit and on SIGTERM/SIGINT (handlers installed on first use)."""
    global _live_pid
    if os.getpid() != _live_pid:  # a fork of the importer: its parent's networks are not ours
        _live.clear()
        _live_pid = os.getpid()
    _live[key] = network
    _install_handlers()


def forget(key: str) -> TestNetwork | None:
    """Stop tracking a network (it is being torn down); returns it if it was tracked."""
    return _live.pop(key, None)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    close_all()
    previous = _previous.get(signum, signal.SIG_DFL)
    if callable(previous):
        previous(signum, frame)
    elif previous == signal.SIG_DFL:
        # Die of the signal as if we had not been here (exit status says so).
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


def _install_handlers() -> None:
    """Chain SIGTERM/SIGINT once, from the main thread only (Python's rule).

    A signal the program ignores stays ignored; one handled in C (None) is left alone.
    """
    with _handlers_lock:
        if _previous or threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous = signal.getsignal(signum)
            if previous in (signal.SIG_IGN, None):
                continue
            with contextlib.suppress(ValueError, OSError):
                signal.signal(signum, _on_signal)
                _previous[signum] = previous


atexit.register(close_all)
