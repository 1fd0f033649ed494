"""The engine's lifecycle: an enum with the legal transitions, not a pile of booleans.

    STOPPED ──start──► STARTING ──healthy──► READY
                         │  ▲                  │
              died/timed │  │ backoff over     │ died/unhealthy
                 out     ▼  │                  ▼
                       RESTARTING ◄────────────┘
                         │
          too many failed starts
                         ▼
                       FAILED

Any state may go to STOPPED (shutdown); STARTING may also go straight to FAILED when the
engine cannot even be launched (its command is missing).
"""

from __future__ import annotations

import enum

__all__ = ["TRANSITIONS", "EngineState", "IllegalTransition", "check_transition"]


class EngineState(enum.StrEnum):
    STOPPED = "STOPPED"
    STARTING = "STARTING"
    READY = "READY"
    RESTARTING = "RESTARTING"
    FAILED = "FAILED"

    @property
    def serving(self) -> bool:
        return self is EngineState.READY


TRANSITIONS: dict[EngineState, frozenset[EngineState]] = {
    EngineState.STOPPED: frozenset({EngineState.STARTING}),
    EngineState.STARTING: frozenset(
        {EngineState.READY, EngineState.RESTARTING, EngineState.FAILED, EngineState.STOPPED}
    ),
    EngineState.READY: frozenset({EngineState.RESTARTING, EngineState.STOPPED}),
    EngineState.RESTARTING: frozenset(
        {EngineState.STARTING, EngineState.FAILED, EngineState.STOPPED}
    ),
    EngineState.FAILED: frozenset({EngineState.STOPPED}),
}


class IllegalTransition(RuntimeError):
    """A bug in the supervisor, never a user error."""


def check_transition(old: EngineState, new: EngineState) -> None:
    if new not in TRANSITIONS[old]:
        raise IllegalTransition(f"engine state {old.value} cannot go to {new.value}")
