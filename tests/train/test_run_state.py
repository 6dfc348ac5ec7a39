"""Which controls each run state allows: one table, followed by the Training dock and the window."""

import pytest

from cnnplayground.train.run_state import RunState

#: state: (busy, can_start, can_pause, can_resume, can_stop)
RULES = {
    "idle": (False, True, False, False, False),
    "loading": (True, False, False, False, False),
    "running": (True, False, True, False, True),
    "paused": (True, False, False, True, True),
    "stopping": (True, False, False, False, False),
    "finished": (False, True, False, False, False),
    "failed": (False, True, False, False, False),
}


def test_every_state_has_a_rule():
    assert sorted(RULES) == sorted(RunState)


@pytest.mark.parametrize("text", RULES)
def test_rules(text):
    state = RunState(text)
    assert state == text  # signals carry the state as its text
    assert (state.busy, state.can_start, state.can_pause, state.can_resume, state.can_stop) == RULES[text]
