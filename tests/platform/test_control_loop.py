"""harness/platform/local/control.py: a controller's error is recorded once as an Event, and the loop goes on."""

from __future__ import annotations

import asyncio

from harness.platform.local.apiserver import Store
from harness.platform.local.control import control_loop
from harness.platform.local.objects import EVENTS
from harness.platform.local.recorder import EventRecorder


def events(store: Store) -> list[tuple[str, str, str]]:
    found = store.list(EVENTS, copy=False)[0]
    ordered = sorted(found, key=lambda e: int(e["metadata"]["resourceVersion"]))
    return [(e["type"], e["reason"], e["message"]) for e in ordered]


def test_an_error_is_recorded_once_then_its_recovery_then_a_new_error():
    store = Store()
    outcomes = iter(["boom"] * 5 + ["ok", "ok", "bang", "bang", "boom"] + ["ok"] * 100)
    passes: list[str] = []

    def step() -> None:
        outcome = next(outcomes)
        passes.append(outcome)
        if outcome != "ok":
            raise RuntimeError(outcome)

    async def main() -> None:
        await control_loop(step, 0.0, "hpa", EventRecorder(store), running=lambda: len(passes) < 12)

    asyncio.run(main())
    assert len(passes) == 12  # the loop went on through every error
    assert events(store) == [
        ("Warning", "ControllerError", "hpa failed: RuntimeError: boom"),
        ("Normal", "ControllerRecovered", "hpa works again after 5 failed passes"),
        ("Warning", "ControllerError", "hpa failed: RuntimeError: bang"),
        ("Warning", "ControllerError", "hpa failed: RuntimeError: boom"),
        ("Normal", "ControllerRecovered", "hpa works again after 1 failed passes"),
    ]


def test_a_woken_loop_runs_its_coroutine_step_at_once_and_on_its_interval():
    async def main() -> list[float]:
        wake, loop = asyncio.Event(), asyncio.get_running_loop()
        ran: list[float] = []

        async def step() -> None:
            ran.append(loop.time())

        task = asyncio.create_task(control_loop(step, 3600.0, "reconcile", wake=wake, running=lambda: len(ran) < 2))
        await asyncio.sleep(0)
        assert ran == []  # waits for its wake-up (or an hour)
        wake.set()
        await asyncio.sleep(0.05)
        assert len(ran) == 1
        wake.set()
        await asyncio.wait_for(task, 5.0)
        return ran

    assert len(asyncio.run(main())) == 2
