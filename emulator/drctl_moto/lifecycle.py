"""Job life cycles on top of moto's state manager.

Every AWS Backup job (and DynamoDB export) the extension creates is a moto
``ManagedState``.  Its progression (immediate / manual / time) is looked up
in moto's state manager under a model name.  A progression set for one
account is registered under ``drctl::<kind>-job@<account>``; one set for
everybody under ``drctl::<kind>-job``.  A job uses its account's entry when
there is one.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from moto.moto_api import state_manager
from moto.moto_api._internal.managed_state_model import ManagedState

KINDS = ("backup", "restore", "copy", "export")

# Terminal states of the three kinds of job.
TERMINAL = {"COMPLETED", "FAILED", "ABORTED", "EXPIRED", "PARTIAL"}

# The first state of each kind, as AWS names them (restore jobs start PENDING;
# a DynamoDB export is IN_PROGRESS until it ends).
FIRST_STATE = {"backup": "CREATED", "restore": "PENDING", "copy": "CREATED", "export": "IN_PROGRESS"}

# The state a job is in while it runs (an export has no separate one).
RUNNING_STATE = {"backup": "RUNNING", "restore": "RUNNING", "copy": "RUNNING", "export": "IN_PROGRESS"}

_lock = threading.RLock()
_scoped: set[str] = set()


def model_name(kind: str, account: str | None = None) -> str:
    base = f"drctl::{kind}-job"
    return f"{base}@{account}" if account else base


def register_defaults() -> None:
    for kind in KINDS:
        state_manager.register_default_transition(
            model_name(kind), transition={"progression": "immediate"}
        )


def set_progression(
    kind: str,
    mode: str,
    account: str | None = None,
    steps: int | None = None,
    seconds: float | None = None,
) -> dict[str, Any]:
    """Set the progression of a kind of job ("all" for every kind)."""
    if mode == "immediate":
        transition: dict[str, Any] = {"progression": "immediate"}
    elif mode == "manual":
        transition = {"progression": "manual", "times": int(steps or 1)}
    elif mode == "time":
        transition = {"progression": "time", "seconds": float(seconds or 1)}
    else:
        raise ValueError(f"unknown mode {mode!r}: immediate, manual or time")
    kinds = KINDS if kind == "all" else (kind,)
    for one in kinds:
        if one not in KINDS:
            raise ValueError(f"unknown kind {one!r}: backup, restore, copy, export or all")
        name = model_name(one, account)
        with _lock:
            state_manager.set_transition(name, transition)
            if account:
                _scoped.add(name)
    return transition


def reset_progression(account: str | None = None) -> None:
    """Back to the default (immediate) for one account, or for everybody."""
    with _lock:
        for kind in KINDS:
            if account:
                name = model_name(kind, account)
                state_manager.unset_transition(name)
                _scoped.discard(name)
            else:
                state_manager.unset_transition(model_name(kind))
                for name in list(_scoped):
                    state_manager.unset_transition(name)
                _scoped.clear()


def progression(kind: str, account: str | None = None) -> dict[str, Any]:
    return state_manager.get_transition(_effective_name(kind, account))


def _effective_name(kind: str, account: str | None) -> str:
    scoped = model_name(kind, account)
    with _lock:
        return scoped if account and scoped in _scoped else model_name(kind)


class JobLifecycle(ManagedState):
    """CREATED (PENDING) -> RUNNING -> COMPLETED, or -> FAILED when doomed;
    an export: IN_PROGRESS -> COMPLETED (or FAILED).

    ``status`` is read without side effects on the tick counter; ``observe``
    is what a Describe call does: read the status, then count the call (so
    in manual mode the caller sees every state in turn).

    ``gate`` (optional) holds the job in its running state, whatever the
    progression says, until it answers True: a restore of a recovery point
    whose contents are cut at an instant still ahead cannot end before it.
    """

    def __init__(self, kind: str, account: str, gate: Callable[[], bool] | None = None):
        self.kind = kind
        self.account = account
        self.gate = gate
        super().__init__(model_name(kind), transitions=self._path("COMPLETED"))

    def _path(self, end: str) -> list[tuple[str, str]]:
        first, running = FIRST_STATE[self.kind], RUNNING_STATE[self.kind]
        if first == running:
            return [(first, end)]
        return [(first, running), (running, end)]

    def _get_next_status(self, previous: str | None) -> str | None:
        nxt = super()._get_next_status(previous)
        if nxt == "COMPLETED" and self.gate is not None and not self.gate():
            return previous
        return nxt

    # moto's ManagedState stores model_name as a plain attribute; make it
    # resolve to the account's own entry when one is registered.
    @property  # type: ignore[override]
    def model_name(self) -> str:
        return _effective_name(self.kind, self.account)

    @model_name.setter
    def model_name(self, value: str) -> None:  # set by ManagedState.__init__
        pass

    def doom(self) -> None:
        """End in FAILED instead of COMPLETED (unless already terminal)."""
        self._transitions = self._path("FAILED")

    def observe(self) -> str | None:
        current = self.status
        self.advance()
        return current
