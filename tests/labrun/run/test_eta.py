"""The time a run has left: static estimates corrected by reports and elapsed time."""

import math

from labrun.run import eta
from labrun.run.projection import RunView


async def test_before_the_start_it_is_the_static_estimate(rig):
    r = rig(
        """
parameters:
  cycles: {type: int, default: 2}
steps:
  - timer.wait: 10 min
  - repeat: ${cycles}
    steps:
      - timer.wait: 1 min
""",
        {"cycles": 5},
    )
    assert r.run.remaining() == 15 * 60


async def test_it_counts_down_with_the_running_steps_reports(rig):
    r = rig("steps:\n  - timer.wait: 100 s\n  - timer.wait: 50 s\n")
    r.start()
    await r.advance_to(30)
    assert r.run.remaining() == 120


async def test_a_step_without_reports_counts_down_from_its_estimate(rig):
    r = rig("steps:\n  - lab.phases: {phases: 3, seconds: 10}\n  - timer.wait: 50 s\n")
    r.start()
    await r.advance_to(12)
    assert r.run.remaining() == 68


async def test_a_report_corrects_the_static_estimate(rig):
    r = rig("steps:\n  - lab.work: {seconds: 100}\n")
    r.start()
    await r.settle()
    assert r.run.remaining() == 100
    r.run.executions["0"].runner.swap({"seconds": 40})
    await r.advance_to(10)
    assert r.run.remaining() == 30


async def test_it_stands_still_while_paused(rig):
    r = rig("steps:\n  - timer.wait: 100 s\n")
    r.start()
    await r.advance_to(30)
    r.run.pause()
    await r.advance_to(500)
    assert r.run.remaining() == 70


async def test_a_parallel_takes_its_longest_branch(rig):
    r = rig("""
steps:
  - parallel:
      - timer.wait: 100 s
      - steps:
          - timer.wait: 20 s
          - timer.wait: 20 s
  - timer.wait: 10 s
""")
    r.start()
    await r.advance_to(30)
    assert r.run.remaining() == 80


async def test_loops_count_their_remaining_iterations(rig):
    r = rig("""
steps:
  - repeat: 4
    steps:
      - timer.wait: 10 s
      - timer.wait: 5 s
  - sweep: d
    values: [1 s, 2 s, 3 s]
    steps:
      - timer.wait: ${d}
""")
    r.start()
    await r.advance_to(20)
    # iteration 1, 5 s into its 10 s wait: 5 + 5, two more iterations of 15, sweep 6.
    assert r.run.remaining() == 46
    await r.advance_to(62)
    # The sweep, in its second value: 1 s of 2 s left, then 3 s.
    assert r.run.remaining() == 4


async def test_after_a_jump_it_counts_from_the_step_jumped_to(rig):
    r = rig("""
steps:
  - timer.wait: 100 s
  - timer.wait: 100 s
  - timer.wait: 10 s
    id: last
""")
    r.start()
    await r.advance_to(5)
    r.run.jump("last")
    await r.settle()
    assert r.run.remaining() == 10


async def test_unknown_or_forever_make_the_whole_unknown_or_forever(rig):
    r = rig("steps:\n  - lab.flaky: {}\n  - timer.wait: 1 s\n")
    assert r.run.remaining() is None
    r = rig("steps:\n  - timer.wait: 1 s\n  - lab.work: {seconds: .inf}\n")
    assert r.run.remaining() == math.inf


async def test_the_figure_comes_from_the_events_alone(rig):
    r = rig("steps:\n  - timer.wait: 100 s\n  - timer.wait: 50 s\n")
    r.start()
    await r.advance_to(30)
    view = RunView()
    for event in r.events:
        view.apply(event)
    assert eta.remaining(r.run.tree, view, r.clock.now()) == 120


async def test_a_finished_run_has_nothing_left(rig):
    r = rig("steps:\n  - timer.wait: 1 s\n")
    await r.finish()
    assert r.run.remaining() == 0
