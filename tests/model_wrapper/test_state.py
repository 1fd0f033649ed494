from __future__ import annotations

import itertools

import pytest

from trussd.model_wrapper.state import LEGAL_TRANSITIONS, Lifecycle, ModelState

S = ModelState


def test_every_state_has_a_rule_and_only_stopped_is_terminal() -> None:
    assert set(LEGAL_TRANSITIONS) == set(ModelState)
    assert [s for s, targets in LEGAL_TRANSITIONS.items() if not targets] == [S.STOPPED]
    for state in ModelState:
        if state not in (S.STOPPING, S.STOPPED):
            assert S.STOPPING in LEGAL_TRANSITIONS[state]


@pytest.mark.parametrize(
    "path",
    [
        [S.LOADING, S.READY, S.UNHEALTHY, S.READY, S.STOPPING, S.STOPPED],
        [S.LOADING, S.LOAD_FAILED, S.STOPPING, S.STOPPED],
        [S.LOAD_FAILED, S.STOPPING],
        [S.STOPPING, S.STOPPED],
    ],
)
def test_legal_paths(path: list[ModelState]) -> None:
    lifecycle = Lifecycle()
    seen: list[tuple[ModelState, ModelState]] = []
    lifecycle.add_listener(lambda old, new: seen.append((old, new)))
    for state in path:
        lifecycle.transition(state)
    assert lifecycle.state is path[-1]
    assert [new for _, new in seen[1:]] == path


@pytest.mark.parametrize(
    ("source", "target"),
    [
        (a, b)
        for a, b in itertools.product(ModelState, ModelState)
        if a is not b and b not in LEGAL_TRANSITIONS[a]
    ],
)
def test_illegal_transitions_raise(source: ModelState, target: ModelState) -> None:
    lifecycle = Lifecycle()
    lifecycle._state = source  # place it directly in the source state
    with pytest.raises(RuntimeError, match="illegal model state transition"):
        lifecycle.transition(target)
    assert lifecycle.state is source


def test_error_travels_with_the_state() -> None:
    lifecycle = Lifecycle()
    lifecycle.transition(S.LOADING)
    lifecycle.transition(S.LOAD_FAILED, error="boom")
    assert lifecycle.error == "boom"
