"""What only the grader runs: inputs, the oracle, scoring, the launcher of test processes, reports.

A test process never imports this package: it receives inputs and sends back
results through ``autograder.harness.protocol``, and everything that turns
those results into points stays on this side of the process boundary.
"""
