"""on_error policies and step timeouts (SEMANTICS.md "Failures and recovery")."""

from labrun.event import EventType
from labrun.protocol import ErrorAction, OnError
from labrun.run.policy import next_action
from labrun.run.state import RunState


def test_retry_retries_its_count_with_doubling_backoff_then_pauses():
    policy = OnError(ErrorAction.RETRY, times=3, backoff=2.0)
    assert [next_action(policy, n) for n in (1, 2, 3, 4)] == [
        (ErrorAction.RETRY, 2.0),
        (ErrorAction.RETRY, 4.0),
        (ErrorAction.RETRY, 8.0),
        (ErrorAction.PAUSE, 0.0),
    ]


def test_the_other_policies_do_the_same_on_every_failure():
    for action in (ErrorAction.PAUSE, ErrorAction.SKIP, ErrorAction.HALT):
        assert next_action(OnError(action), 7) == (action, 0.0)


async def test_by_default_a_failure_waits_for_the_operator(rig):
    r = rig("steps:\n  - lab.flaky: {failures: 1}\n  - lab.echo: {value: 1}\n")
    r.start()
    await r.advance_to(3600)
    assert r.run.state is RunState.FAILED
    assert r.states("0") == ["running", "failed"]


async def test_retry_policy_retries_after_its_backoff(rig):
    r = rig("""
steps:
  - lab.flaky: {failures: 2}
    on_error: {retry: 3, backoff: 5 s}
""")
    assert await r.finish() is RunState.COMPLETED
    restarts = [r.at(e) for e in r.of("0", EventType.RESTART)]
    assert restarts == [5, 15]
    assert r.run.view.steps["0"].result == 3
    # The run waited for no one: it never showed failed.
    assert r.run_states == ["running", "completed"]
    retries = [e.payload for e in r.of("0", EventType.REQUEST)]
    assert retries == [{"request": "retry", "by": "on_error"}] * 2


async def test_retry_policy_pauses_once_its_retries_are_spent(rig):
    r = rig("""
steps:
  - lab.flaky: {failures: 10}
    on_error: {retry: 2}
""")
    r.start()
    await r.settle()
    assert r.run.state is RunState.FAILED
    assert r.states("0") == ["running", "failed", "running", "failed", "running", "failed"]
    r.run.skip("0")
    assert await r.finish() is RunState.COMPLETED


async def test_a_retry_waiting_out_its_backoff_holds_while_the_run_is_paused(rig):
    r = rig("""
steps:
  - parallel:
    - lab.flaky: {failures: 1}
      on_error: {retry: 1, backoff: 10 s}
    - lab.work: {seconds: 100}
""")
    r.start()
    await r.advance_to(2)
    r.run.pause()
    await r.advance_to(30)
    assert r.of("0.0", EventType.RESTART) == []
    r.run.resume()
    await r.settle()
    assert [r.at(e) for e in r.of("0.0", EventType.RESTART)] == [30]


async def test_skip_policy_skips_the_failed_step_and_goes_on(rig):
    r = rig("""
steps:
  - lab.flaky: {failures: 1}
    on_error: skip
  - lab.echo: {value: 1}
""")
    assert await r.finish() is RunState.COMPLETED
    assert r.states("0") == ["running", "failed", "skipped"]
    assert r.run_states == ["running", "completed"]


async def test_halt_policy_halts_the_run(rig):
    r = rig("""
steps:
  - parallel:
    - lab.flaky: {failures: 1}
      on_error: halt
    - lab.work: {seconds: 100}
  - lab.echo: {value: 1}
""")
    assert await r.finish() is RunState.HALTED
    assert r.states("0.1")[-1] == "halted"
    assert r.run_states == ["running", "halting", "halted"]
    halt = r.of("", EventType.REQUEST)[0].payload
    assert halt == {"request": "halt", "step": "0.0", "by": "on_error"}


async def test_a_step_timeout_fails_the_step(rig, cleanups):
    r = rig("""
steps:
  - lab.hang: {}
    timeout: 30 s
  - lab.echo: {value: 1}
""")
    r.start()
    await r.advance_to(100)
    assert r.run.state is RunState.FAILED
    assert r.time_of("0", "failed") == 30
    assert r.run.view.steps["0"].error == "timed out after 30 s"
    assert cleanups == ["0"]


async def test_time_paused_in_a_checkpoint_does_not_count_toward_the_timeout(rig):
    r = rig("""
steps:
  - lab.phases: {phases: 10, seconds: 10}
    timeout: 30 s
""")
    r.start()
    await r.advance_to(15)
    r.run.pause()
    await r.advance_to(500)
    assert r.states("0")[-1] == "paused"
    r.run.resume()
    await r.advance_to(600)
    # Paused at the checkpoint ending phase 2 (at 20 s), resumed at 500: 10 s were left.
    assert r.time_of("0", "failed") == 510


async def test_a_process_restarted_after_a_pause_gets_the_whole_timeout_again(rig):
    r = rig("""
steps:
  - lab.work: {seconds: 100}
    timeout: 30 s
""")
    r.start()
    await r.advance_to(20)
    r.run.pause()
    await r.advance_to(500)
    r.run.resume()
    await r.advance_to(600)
    assert r.time_of("0", "failed") == 530


async def test_a_timed_out_step_follows_its_on_error_policy(rig):
    r = rig("""
steps:
  - lab.work: {seconds: 100}
    timeout: 30 s
    on_error: skip
  - lab.echo: {value: 1}
""")
    assert await r.finish() is RunState.COMPLETED
    assert r.states("0") == ["running", "failed", "skipped"]
    assert r.time_of("1", "completed") == 30


async def test_each_retry_gets_the_whole_timeout(rig):
    r = rig("""
steps:
  - lab.work: {seconds: 50}
    timeout: 30 s
    on_error: {retry: 1}
""")
    r.start()
    await r.advance_to(200)
    failed = [r.at(e) for e in r.of("0", EventType.STATE) if e.payload["state"] == "failed"]
    assert failed == [30, 60]
