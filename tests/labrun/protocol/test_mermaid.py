"""Mermaid flowcharts of protocols."""

from lab_plugin import build

from labrun.protocol.mermaid import mermaid


def test_a_flowchart_chains_steps_forks_branches_and_boxes_repeats():
    result = build(
        """
        name: Demo "quoted"
        steps:
          - lab.wait: 1 min
            name: Settle
          - parallel:
              - lab.wait: 1 s
              - lab.note: hi
          - repeat: 2
            steps:
              - lab.count: 3
        """
    )
    assert result.protocol is not None
    assert mermaid(result.protocol) == (
        "flowchart TD\n"
        '    start(["Demo #quot;quoted#quot;"])\n'
        '    s0["Settle: lab.wait 1 min (1 min)"]\n'
        '    s1_fork{{"parallel, 2 branches (unknown)"}}\n'
        '    s1_join{{"join"}}\n'
        '    s1_0["lab.wait 1 s (1 s)"]\n'
        "    s1_fork --> s1_0\n"
        "    s1_0 --> s1_join\n"
        '    s1_1["lab.note hi (unknown)"]\n'
        "    s1_fork --> s1_1\n"
        "    s1_1 --> s1_join\n"
        '    subgraph s2 ["repeat 2 times (6 s)"]\n'
        '        s2_0["lab.count 3 (3 s)"]\n'
        "    end\n"
        "    s0 --> s1_fork\n"
        "    s1_join --> s2_0\n"
        '    finish(["end: unknown"])\n'
        "    start --> s0\n"
        "    s2_0 --> finish\n"
    )
