"""The kernel client of ``cmim-lab notebooks``: a missed socket wake-up never holds a run
forever, a caller's timeout is kept, and papermill gets the client and a per-cell timeout."""

import asyncio
import time
from queue import Empty

import pytest

pytest.importorskip("papermill")
from jupyter_client.channels import AsyncZMQSocketChannel  # noqa: E402

from cmim_lab.notebook import kernel as notebook_kernel  # noqa: E402
from cmim_lab.notebook.kernel import SlicedChannel, SlicedKernelClient, SlicedKernelManager  # noqa: E402


class FakeSocketPolls:
    """Stands in for the channel's zmq poll: ``misses`` slices end empty (a wake-up the poll
    missed), then the queued message is returned; records each slice's timeout."""

    def __init__(self, misses: int | None):
        self.misses, self.timeouts = misses, []

    async def __call__(self, channel, timeout=None):
        self.timeouts.append(timeout)
        if self.misses is None or len(self.timeouts) <= self.misses:
            await asyncio.sleep(timeout or 0)
            raise Empty
        return {"msg_type": "execute_reply"}


@pytest.fixture
def polls(monkeypatch):
    monkeypatch.setattr(notebook_kernel, "POLL_SLICE", 0.01)

    def install(misses):
        fake = FakeSocketPolls(misses)
        monkeypatch.setattr(AsyncZMQSocketChannel, "get_msg", lambda channel, timeout=None: fake(channel, timeout))
        return fake

    return install


def _get(timeout):
    channel = SlicedChannel.__new__(SlicedChannel)  # no socket: the parent's poll is the fake
    return asyncio.run(channel.get_msg(timeout=timeout))


def test_a_missed_wake_up_costs_one_slice_not_forever(polls):
    fake = polls(misses=5)
    assert _get(None) == {"msg_type": "execute_reply"}
    assert len(fake.timeouts) == 6 and all(t == 0.01 for t in fake.timeouts)  # never one unbounded poll


def test_a_callers_timeout_is_kept(polls):
    fake = polls(misses=None)  # no message ever comes
    t0 = time.monotonic()
    with pytest.raises(Empty):
        _get(0.05)
    assert 0.05 <= time.monotonic() - t0 < 1.0
    assert all(t is not None and t <= 0.01 + 1e-9 for t in fake.timeouts)


def test_a_zero_timeout_polls_once(polls):
    fake = polls(misses=None)
    with pytest.raises(Empty):
        _get(0)
    assert fake.timeouts == [0.0]


def test_the_manager_hands_out_the_sliced_client():
    km = SlicedKernelManager()
    assert km.client_factory is SlicedKernelClient
    assert SlicedKernelClient.shell_channel_class.default_value is SlicedChannel
    assert SlicedKernelClient.iopub_channel_class.default_value is SlicedChannel


@pytest.mark.parametrize(
    "profile, given, expected", [("smoke", None, 600), ("default", None, 3600), ("default", 0, None), ("smoke", 30, 30)]
)
def test_papermill_gets_the_client_and_the_cell_timeout(profile, given, expected, tmp_path, monkeypatch):
    import papermill

    from cmim_lab.notebook.runner import run_notebooks

    seen = []
    monkeypatch.setattr(papermill, "execute_notebook", lambda source, target, **kw: seen.append(kw))
    assert run_notebooks(profile=profile, only=["0"], out_dir=tmp_path, device="cpu", cell_timeout=given) == 0
    assert seen[0]["execution_timeout"] == expected
    assert seen[0]["kernel_manager_class"] is SlicedKernelManager


@pytest.mark.parametrize("bad", [-1, 1.5, True, 10**9])
def test_a_bad_cell_timeout_is_refused_before_any_notebook(bad, tmp_path, monkeypatch):
    import papermill

    from cmim_lab.notebook.runner import run_notebooks

    monkeypatch.setattr(papermill, "execute_notebook", lambda *a, **k: pytest.fail("a notebook started"))
    with pytest.raises(ValueError, match="cell_timeout"):
        run_notebooks(profile="smoke", only=["0"], out_dir=tmp_path, device="cpu", cell_timeout=bad)
