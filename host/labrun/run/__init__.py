"""The run engine: runs a compiled protocol, step by step, branch by branch.

The modules, one concept each: `state` (run states and refusals), `key` (how events name
one execution of a step), `journal` (the run's event bus), `projection` (the run's state,
built from its events), `cursor` (walking the step tree), `branch` (one cursor in its own
task), `policy` (on_error and timeouts), `swap` (mapping an edited protocol), `eta` (time
left), `recorder` (the run store) and `engine` (the `Run` itself).
"""
