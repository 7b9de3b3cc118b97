"""A griffe extension for ``make docs``: the kit's docstrings use reStructuredText's inline markup
(``:func:`load```, double back-quotes, ``::`` literal blocks); mkdocstrings renders Markdown. This
rewrites those three forms into their Markdown equivalents before rendering, nothing else."""

from __future__ import annotations

import re

import griffe

ROLE = re.compile(r":(?:func|class|mod|meth|attr|data|obj|exc):`~?([^`]+)`")
LITERAL = re.compile(r"``([^`]+)``")


def rst_to_markdown(text: str) -> str:
    """Roles and double back-quotes to code spans; an indented block after ``::``, and a doctest
    (lines from ``>>>`` to the next blank line), to fenced blocks."""
    text = LITERAL.sub(r"`\1`", ROLE.sub(r"`\1`", text))
    out, lines, i = [], text.split("\n"), 0
    while i < len(lines):
        line = lines[i]
        if line.rstrip().endswith("::") and not line.strip().startswith(">>>"):
            out.append(line.rstrip()[:-1] if line.rstrip() != "::" else "")
            j = i + 1
            while j < len(lines) and not lines[j].strip():
                j += 1
            block = []
            while j < len(lines) and (not lines[j].strip() or lines[j].startswith((" ", "\t"))):
                block.append(lines[j])
                j += 1
            while block and not block[-1].strip():
                block.pop()
            if block:
                indent = min(len(b) - len(b.lstrip()) for b in block if b.strip())
                out += ["", "```python", *[b[indent:] for b in block], "```", ""]
                i = j
                continue
        if line.lstrip().startswith(">>>"):  # a doctest: Markdown would read it as a quote
            j = i
            while j < len(lines) and lines[j].strip():
                j += 1
            out += ["```pycon", *lines[i:j], "```"]
            i = j
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


class RstInline(griffe.Extension):
    """Rewrite every docstring of the loaded package (see :func:`rst_to_markdown`)."""

    def on_object(self, *, obj, **kwargs) -> None:  # griffe >= 1.0 calls this once per object
        if obj.docstring is not None:
            obj.docstring.value = rst_to_markdown(obj.docstring.value)
