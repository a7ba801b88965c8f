"""Functions the lecture notebooks run in child processes, one module per lecture.

They live in an importable package (not in notebook cells) so that children started
with ``spawn`` or ``forkserver`` can import them by name. ``show_source`` puts them back
on the page: a lecture shows the code a child runs in the cell before it runs.
"""
from __future__ import annotations


class SourceListing:
    """Source code that a notebook shows syntax-highlighted (HTML), and as plain text elsewhere."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text

    def _repr_html_(self) -> str:
        from pygments import highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import PythonLexer

        return highlight(self.text, PythonLexer(), HtmlFormatter(noclasses=True, nobackground=True))


def show_source(*objects) -> SourceListing:
    """The source of the functions or classes a child will run, to display before running them."""
    import inspect

    return SourceListing("\n".join(inspect.getsource(obj) for obj in objects).rstrip("\n"))
