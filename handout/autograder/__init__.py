"""The MyTorch autograder: rubric-driven, sandboxed grading of a student's ``mytorch``.

``python -m autograder`` grades the bundled reference; ``--submission PATH``
grades a handin folder or archive. See ``python -m autograder --help``.
"""
