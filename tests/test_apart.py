"""workbook.apart: work done in a forked child process, its items streamed back in order,
its result and its exceptions given here; the same without fork."""
from __future__ import annotations

import os

import pytest

from pegxl.errors import ErrorCode, PegxlError, finding
from pegxl.workbook.apart import apart, forks


def _work(emit):
    for i in range(5):
        emit(("item", i, os.getpid()))
    return os.getpid()


@pytest.mark.parametrize("fork", ["1", "0"])
def test_items_come_in_order_and_the_result_after_them(monkeypatch, fork):
    monkeypatch.setenv("PEGXL_APART", fork)
    got = []
    pid = apart(_work, sink=got.append)
    assert [i for _, i, _ in got] == list(range(5))
    assert {p for _, _, p in got} == {pid}
    assert (pid != os.getpid()) == (fork == "1" and forks())


def test_shrink_runs_in_the_child_only(monkeypatch):
    got = []
    out = apart(lambda emit: [1, 2, 3], sink=got.append, shrink=lambda r, emit: emit(r) or len(r))
    if forks():
        assert out == 3 and got == [[1, 2, 3]]
    monkeypatch.setenv("PEGXL_APART", "0")
    assert apart(lambda emit: [1, 2, 3], shrink=lambda r, emit: len(r)) == [1, 2, 3]


def test_the_childs_exception_is_raised_here():
    def fails(emit):
        raise PegxlError(finding(ErrorCode.M008, value="/tmp", detail="disco pieno"))
    with pytest.raises(PegxlError) as exc:
        apart(fails)
    assert exc.value.findings[0].is_(ErrorCode.M008)


def test_an_exception_that_does_not_pickle_comes_as_its_text():
    class Local(Exception):   # a class pickle cannot find
        pass

    def fails(emit):
        raise Local("irripetibile")
    with pytest.raises(Exception, match="irripetibile"):
        apart(fails)


def test_a_sink_that_fails_stops_the_child_and_is_raised():
    def endless(emit):
        while True:
            emit(b"x" * 65536)

    def full(item):
        raise OSError("disco pieno")
    with pytest.raises(OSError, match="disco pieno"):
        apart(endless, sink=full)
