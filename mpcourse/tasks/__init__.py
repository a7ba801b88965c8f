"""Functions the lecture notebooks run in child processes, one module per lecture.

They live in an importable package (not in notebook cells) so that children started
with ``spawn`` or ``forkserver`` can import them by name.
"""
