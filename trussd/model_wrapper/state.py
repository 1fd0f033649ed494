"""The model's lifecycle as an explicit state machine.

    STARTING ──► LOADING ──► READY ◄──► UNHEALTHY
        │           │          │            │
        │           ▼          │            │
        └──────► LOAD_FAILED   │            │
                    │          ▼            ▼
                    └──────► STOPPING ◄─────┘ ──► STOPPED

A failed load is terminal for the model (liveness stays up, readiness says why); every
state may go to STOPPING when the server shuts down. Anything else is a bug in trussd and
raises ``RuntimeError`` instead of silently moving on.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable

__all__ = ["LEGAL_TRANSITIONS", "Lifecycle", "ModelState"]


class ModelState(enum.StrEnum):
    STARTING = "STARTING"
    LOADING = "LOADING"
    READY = "READY"
    LOAD_FAILED = "LOAD_FAILED"
    UNHEALTHY = "UNHEALTHY"
    STOPPING = "STOPPING"
    STOPPED = "STOPPED"


LEGAL_TRANSITIONS: dict[ModelState, frozenset[ModelState]] = {
    ModelState.STARTING: frozenset(
        {ModelState.LOADING, ModelState.LOAD_FAILED, ModelState.STOPPING}
    ),
    ModelState.LOADING: frozenset({ModelState.READY, ModelState.LOAD_FAILED, ModelState.STOPPING}),
    ModelState.READY: frozenset({ModelState.UNHEALTHY, ModelState.STOPPING}),
    ModelState.UNHEALTHY: frozenset({ModelState.READY, ModelState.STOPPING}),
    ModelState.LOAD_FAILED: frozenset({ModelState.STOPPING}),
    ModelState.STOPPING: frozenset({ModelState.STOPPED}),
    ModelState.STOPPED: frozenset(),
}

Listener = Callable[[ModelState, ModelState], None]


class Lifecycle:
    """Holds the current state and the error that explains it; notifies listeners on change.

    Transitions can come from the load thread and the event loop, hence the lock.
    """

    def __init__(self) -> None:
        self._state = ModelState.STARTING
        self._error: str | None = None
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []

    @property
    def state(self) -> ModelState:
        return self._state

    @property
    def error(self) -> str | None:
        """Why the model is LOAD_FAILED or UNHEALTHY; None otherwise."""
        return self._error

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)
        listener(self._state, self._state)

    def can(self, target: ModelState) -> bool:
        return target in LEGAL_TRANSITIONS[self._state]

    def transition(self, target: ModelState, error: str | None = None) -> None:
        with self._lock:
            source = self._state
            if source is target:
                self._error = error
                return
            if target not in LEGAL_TRANSITIONS[source]:
                raise RuntimeError(
                    f"illegal model state transition {source.value} -> {target.value}"
                )
            self._state = target
            self._error = error
        for listener in self._listeners:
            listener(source, target)
