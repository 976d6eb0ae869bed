"""The test process's side of grading: the only code that runs next to a handin.

Everything here is imported by the test process before and while it runs the
student's code, so nothing here may know an answer: it confines the process
(``confine``), calls the handin with the inputs it is sent and sends back what
the handin returned (``child``), and speaks the wire format (``protocol``).
Expected values, tolerances, scoring and reports live in ``autograder.grading``,
which the test process never imports and, where the kernel allows, cannot read.
"""
