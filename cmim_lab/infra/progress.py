"""Progress bars that leave a readable trace in a saved notebook.

In a Jupyter kernel tqdm draws a widget, and a notebook executed without a live frontend
(papermill, nbval, ``make run``) saves that widget frozen at its first state ("0%"). The
bar of :func:`progress_bar` shows the same widget while it runs and, when it closes,
replaces it with its final state as one line of text -- so a saved notebook, executed live
or by papermill, reads ``100%|##########| 78/78 [00:01<00:00, 52.1step/s]``. Outside a
kernel it is tqdm's usual text bar.
"""

from __future__ import annotations

TEXT_WIDTH = None  # the final text line: a 10-character bar and every postfix, unwrapped


def progress_bar(**kwargs):
    """A tqdm bar (``kwargs`` as for ``tqdm.tqdm``): a widget that ends as text in a Jupyter
    kernel, the text bar elsewhere. Use it as a context manager or ``close()`` it."""
    from tqdm.auto import tqdm
    from tqdm.notebook import tqdm_notebook

    if not issubclass(tqdm, tqdm_notebook) or kwargs.get("disable"):
        return tqdm(**kwargs)
    return _final_text_bar()(**kwargs)


def _final_text_bar():
    """The notebook bar class whose widget becomes its final text line on ``close()``."""
    from IPython.display import display
    from tqdm.notebook import tqdm_notebook

    class FinalTextBar(tqdm_notebook):
        """tqdm's notebook bar, displayed under a display id so that ``close()`` can swap
        the widget for its last state as plain text."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **{**kwargs, "display": False})
            self._handle = None if self.disable else display(self.container, display_id=True)

        def close(self):
            handle, self._handle = getattr(self, "_handle", None), None
            super().close()
            if handle is not None:
                text = self.format_meter(**{**self.format_dict, "ncols": TEXT_WIDTH}) if self.leave else ""
                handle.update({"text/plain": text}, raw=True)

    return FinalTextBar
