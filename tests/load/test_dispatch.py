"""The open model's shared arrivals (harness/load/dispatch.py): who takes what, and when an arrival is dropped.

Times are given explicitly (``take(now_s)``): no clock, no Locust, no network here.
"""

from __future__ import annotations

import pytest

from harness.load.dispatch import LATE_TOLERANCE_S, Dispatch

START_S = 1000.0  # monotonic time of load start


def _dispatch(offsets_s: list[float]) -> Dispatch:
    d = Dispatch()
    d.begin(iter(offsets_s), START_S, load_start_s=2.0)
    return d


def _send(d: Dispatch) -> None:
    d.sent()
    d.done()


def test_free_users_take_the_next_arrivals_in_order_before_their_time():
    d = _dispatch([0.1, 0.2, 0.3])
    assert [d.take(START_S), d.take(START_S), d.take(START_S)] == [0.1, 0.2, 0.3]
    assert d.holding == 3 and d.exhausted and not d.over
    for _ in range(3):
        _send(d)
    assert d.over and d.take(START_S + 1) is None
    assert (d.generated, d.scheduled, d.dropped, d.in_flight) == (3, 3, 0, 0)


def test_an_arrival_overdue_by_more_than_the_tolerance_is_dropped_not_sent_late():
    d = _dispatch([0.010, 0.020, 0.030, 0.040])
    # A user frees up at 33 ms: 10 and 20 ms are overdue by more than the tolerance, 30 ms by 3 ms only.
    assert LATE_TOLERANCE_S < 0.013
    taken = d.take(START_S + 0.033)
    assert taken == pytest.approx(0.030) and d.dropped == 2
    _send(d)
    assert d.generated == d.scheduled + d.dropped == 3


def test_within_the_tolerance_an_arrival_is_sent_and_its_lag_shows():
    d = _dispatch([0.010])
    assert d.take(START_S + 0.010 + LATE_TOLERANCE_S * 0.9) == pytest.approx(0.010)
    assert d.dropped == 0


def test_the_tick_drops_overdue_arrivals_only_when_no_user_is_free():
    d = _dispatch([0.0, 0.1, 0.2, 5.0])
    assert d.take(START_S) == 0.0
    d.drop_overdue(START_S + 1.0)  # a user holds an arrival: it will take the next ones itself
    assert d.dropped == 0
    d.sent()  # ... and it is now busy with a request that hangs
    d.drop_overdue(START_S + 1.0)  # nobody free: 0.1 and 0.2 found every user busy
    assert d.dropped == 2 and not d.exhausted
    d.done()
    assert d.take(START_S + 1.0) == 5.0 and d.dropped == 2


def test_stopping_gives_nothing_more_and_a_held_arrival_is_released_unsent():
    d = _dispatch([0.5, 0.6])
    assert d.take(START_S) == 0.5
    d.stopping = True
    assert d.take(START_S + 10) is None  # arrivals whose time comes after the stop are not counted
    d.release()
    assert (d.holding, d.scheduled, d.generated, d.dropped) == (0, 0, 0, 0)


def test_an_empty_schedule_is_over_at_once_and_not_before_it_begins():
    d = Dispatch()
    assert not d.over
    d.begin(iter([]), START_S, load_start_s=0.0)
    assert d.over and d.take(START_S) is None
