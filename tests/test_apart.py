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


def test_the_childs_exception_is_raised_here():
    def fails(emit):
        raise PegxlError(finding(ErrorCode.M008, value="/tmp", detail="disco pieno"))
    with pytest.raises(PegxlError) as exc:
        apart(fails)
    assert exc.value.findings[0].is_(ErrorCode.M008)


class _TwoArguments(Exception):
    def __init__(self, a, b):   # pickles, and does not unpickle (args holds one text)
        super().__init__(f"{a} e {b}")


def test_an_exception_that_does_not_travel_comes_as_its_text():
    class Local(Exception):   # a class pickle cannot find
        pass

    def fails(emit):
        raise Local("irripetibile")
    with pytest.raises(Exception, match="irripetibile"):
        apart(fails)

    def fails_too(emit):
        raise _TwoArguments("uno", "due")
    with pytest.raises(Exception, match="uno e due"):
        apart(fails_too)


def test_a_child_that_dies_is_said_so():
    if not forks():
        pytest.skip("nessun processo figlio qui")

    def dies(emit):
        os.kill(os.getpid(), 9)
    with pytest.raises(RuntimeError, match="segnale 9"):
        apart(dies)


def test_the_spill_read_by_a_child_stays_whole_for_the_parent():
    """A child reading the spill's file (shared with the parent) in any order leaves the
    parent's next writes and reads where they belong."""
    from pegxl.validators.spill import KeyedSpill
    spill = KeyedSpill()
    spill.add(0, "primo")
    spill.add(1, "secondo")   # small: it would still be in a buffer, without the flush
    assert apart(lambda emit: spill.get(0)) == ["primo"]
    assert spill.get(1) == ["secondo"]   # the parent's own reading ahead, then the child's
    assert apart(lambda emit: spill.get(0)) == ["primo"]
    spill.add(2, "terzo")
    assert [spill.get(k) for k in (0, 1, 2)] == [["primo"], ["secondo"], ["terzo"]]


def test_a_sink_that_fails_stops_the_child_and_is_raised():
    def endless(emit):
        while True:
            emit(b"x" * 65536)

    def full(item):
        raise OSError("disco pieno")
    with pytest.raises(OSError, match="disco pieno"):
        apart(endless, sink=full)
