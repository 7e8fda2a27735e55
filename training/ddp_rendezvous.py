"""A torchrun rendezvous backend for one machine whose store listens on 127.0.0.1 only.

torchrun's `--standalone` (c10d) and static backends open their TCPStore on every network
interface (checked with `ss -ltn` on torch 2.13). The "loopback" backend binds the store to
127.0.0.1 instead, so a single-machine run opens no port to the network. The project registers
it through torchrun's "torchrun.handlers" entry point (see pyproject.toml):

    python -m torch.distributed.run --rdzv-backend=loopback --nnodes=1 --nproc-per-node=2 \\
        -m training.ddp_train --backend gloo ...

Runs across several machines use torchrun's c10d backend with a reachable endpoint instead.
"""

from __future__ import annotations

import datetime
import socket

from torch.distributed import PrefixStore, TCPStore
from torch.distributed.elastic.rendezvous import (
    RendezvousHandler,
    RendezvousInfo,
    RendezvousParameters,
    RendezvousStoreInfo,
)

BACKEND_NAME = "loopback"
LOOPBACK_ADDRESS = "127.0.0.1"
DEFAULT_TIMEOUT_SECONDS = 600


class LoopbackRendezvous(RendezvousHandler):
    """The only node of the run hosts a TCPStore on 127.0.0.1; its workers join it as clients."""

    def __init__(self, run_id: str, timeout_seconds: int):
        self._run_id = run_id
        self._timeout = datetime.timedelta(seconds=timeout_seconds)
        self._store: TCPStore | None = None
        self._closed = False

    def get_backend(self) -> str:
        return BACKEND_NAME

    @property
    def use_agent_store(self) -> bool:
        # Workers connect to this store as clients instead of opening a store of their own.
        return True

    def next_rendezvous(self) -> RendezvousInfo:
        if self._store is None:
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.bind((LOOPBACK_ADDRESS, 0))
            port = listener.getsockname()[1]
            # TCPStore listens on this already-bound socket and takes ownership of its descriptor.
            self._store = TCPStore(
                LOOPBACK_ADDRESS,
                port,
                world_size=1,
                is_master=True,
                timeout=self._timeout,
                multi_tenant=True,
                master_listen_fd=listener.detach(),
            )
        store_info = RendezvousStoreInfo(LOOPBACK_ADDRESS, self._store.port)
        return RendezvousInfo(PrefixStore(self._run_id, self._store), 0, 1, store_info)

    def is_closed(self) -> bool:
        return self._closed

    def set_closed(self) -> None:
        self._closed = True

    def num_nodes_waiting(self) -> int:
        return 0

    def get_run_id(self) -> str:
        return self._run_id

    def shutdown(self) -> bool:
        return True


def create_loopback_handler(params: RendezvousParameters) -> RendezvousHandler:
    """Build the handler from torchrun's parameters; it accepts exactly one node."""
    if params.min_nodes != 1 or params.max_nodes != 1:
        raise ValueError(
            f"The {BACKEND_NAME} rendezvous backend runs on one machine, but --nnodes asks for "
            f"{params.min_nodes}:{params.max_nodes} nodes. Use --nnodes=1, or the c10d backend across machines."
        )
    timeout = int(params.config.get("timeout", DEFAULT_TIMEOUT_SECONDS))
    return LoopbackRendezvous(params.run_id, timeout)


def torchrun_handler():
    """Return the handler factory; torchrun calls this through the "torchrun.handlers" entry point."""
    return create_loopback_handler
