"""A stage forked onto the second core gives exactly what it gives inline: its value, or its exception."""

from __future__ import annotations

import os

import pytest

from neuroscale.check.forked import start


def test_the_child_computes_the_value() -> None:
    parent = os.getpid()
    result = start(lambda: (os.getpid(), [1, "two", {"three": 3.0}]), fork=True)
    pid, value = result()
    assert value == [1, "two", {"three": 3.0}] and (pid != parent or not hasattr(os, "fork"))


def test_an_exception_in_the_child_is_raised_by_the_parent_as_inline() -> None:
    def work() -> int:
        raise ValueError("broken input")

    result = start(work, fork=True)
    with pytest.raises(ValueError, match="broken input"):
        result()


def test_a_value_the_child_cannot_send_is_computed_inline() -> None:
    parent = os.getpid()
    result = start(lambda: (os.getpid(), lambda: "not picklable"), fork=True)
    pid, value = result()
    assert pid == parent and value() == "not picklable"


def test_without_fork_nothing_is_forked() -> None:
    assert start(os.getpid, fork=False)() == os.getpid()
