"""Progress bars: text outside a kernel; in a kernel a widget that ends as its final text line,
so a notebook saved after papermill or nbval shows where the bar finished, never a frozen 0%."""

from tqdm.notebook import tqdm_notebook

from cmim_lab.infra import progress


def test_outside_a_kernel_the_bar_is_text(capsys):
    with progress.progress_bar(total=3, desc="train") as bar:
        bar.update(3)
    assert not isinstance(bar, tqdm_notebook)
    assert "train: 100%" in capsys.readouterr().err


def test_a_notebook_bar_is_replaced_by_its_final_state(monkeypatch):
    import IPython.display

    calls = []

    class Handle:
        def update(self, obj, raw=False):
            calls.append(("update", obj, raw))

    def display(obj, display_id=None):
        calls.append(("display", type(obj).__name__, display_id))
        return Handle()

    monkeypatch.setattr(IPython.display, "display", display)
    bar = progress._final_text_bar()(total=4, desc="cmim[sum] digits", unit="step")
    for _ in range(4):
        bar.update(1)
    bar.close()
    bar.close()  # closing twice (a finally block, then garbage collection) updates once
    assert calls[0] == ("display", "TqdmHBox", True) and len(calls) == 2  # the widget, under a display id
    kind, bundle, raw = calls[1]
    assert kind == "update" and raw and set(bundle) == {"text/plain"}
    assert "cmim[sum] digits: 100%" in bundle["text/plain"] and "4/4" in bundle["text/plain"]


def test_an_interrupted_notebook_bar_keeps_where_it_stopped(monkeypatch):
    import IPython.display

    updates = []

    class Handle:
        def update(self, obj, raw=False):
            updates.append(obj["text/plain"])

    monkeypatch.setattr(IPython.display, "display", lambda obj, display_id=None: Handle())
    bar = progress._final_text_bar()(total=10, desc="vae", unit="step")
    bar.update(4)
    bar.close()
    assert len(updates) == 1 and "40%" in updates[0] and "4/10" in updates[0]
