"""A Jupyter kernel manager for papermill whose client never waits on one socket poll forever.

Why: papermill's client (nbclient) waits for a cell's ``execute_reply`` with a single
asyncio ``poll`` of the shell socket, without a timeout. Under the comm traffic of a cell
that moves widgets (notebook 05's explorer), that poll was seen to miss its wake-up now and
then (about one run in three on this project's 2-core machine): the kernel had answered and
was idle, the reply sat in the socket's queue, and ``make run`` waited forever (nbclient
issue 312). Here each wait is cut into slices of :data:`POLL_SLICE` seconds; a slice ends with a
real, non-blocking zmq poll (pyzmq does that on timeout), so a missed wake-up costs at most
one slice. A caller's own timeout is kept exactly.

Used by :func:`cmim_lab.notebook.runner.run_notebooks` as papermill's ``kernel_manager_class``.
Imports jupyter_client at import time: import this module only where papermill is installed.
"""

from __future__ import annotations

import time
from queue import Empty

from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.channels import AsyncZMQSocketChannel
from jupyter_client.manager import AsyncKernelManager
from traitlets import DottedObjectName, Type

POLL_SLICE = 1.0  # seconds: the longest a missed socket wake-up can delay a message


class SlicedChannel(AsyncZMQSocketChannel):
    """A shell/IOPub channel whose ``get_msg`` waits in slices of :data:`POLL_SLICE` s."""

    async def get_msg(self, timeout: float | None = None) -> dict:
        """The next message; waits up to ``timeout`` seconds (None: until one comes), then
        raises :class:`queue.Empty`, as the channel it replaces."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = POLL_SLICE if deadline is None else max(0.0, min(POLL_SLICE, deadline - time.monotonic()))
            try:
                return await super().get_msg(timeout=left)
            except Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise


class SlicedKernelClient(AsyncKernelClient):
    """papermill's usual asynchronous client, with :class:`SlicedChannel` for shell and IOPub."""

    shell_channel_class = Type(SlicedChannel)
    iopub_channel_class = Type(SlicedChannel)


class SlicedKernelManager(AsyncKernelManager):
    """papermill's usual kernel manager, handing out :class:`SlicedKernelClient` clients."""

    client_class = DottedObjectName("cmim_lab.notebook.kernel.SlicedKernelClient")
    client_factory = Type(SlicedKernelClient, klass=AsyncKernelClient)
