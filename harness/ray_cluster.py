"""Connecting to a Ray cluster: the one place that imports ``ray``, lazily, so gnnlat works without it.

``--ray`` takes ``auto`` (the cluster ``ray start`` left on this machine, or ``RAY_ADDRESS``),
``local`` (a private runtime on this machine, shut down afterwards) or a ``host:port`` /
``ray://host:port`` address. An address that cannot be right, or a host that does not answer, is
refused in one line before Ray gets to retry it for a minute.
"""
from __future__ import annotations

import re
import socket
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from gnnlat.errors import GnnlatError

INSTALL_HINT = "pip install -e '.[ray]' (or pip install 'ray>=2.9')"
ADDRESS = re.compile(r"^(ray://)?(?P<host>[A-Za-z0-9_.\-]+|\[[0-9A-Fa-f:]+\]):(?P<port>\d{1,5})$")
REACH_TIMEOUT_S = 5.0


class RayClusterError(GnnlatError, RuntimeError):
    """Ray is missing, the address is bad or unreachable, or the cluster cannot run the work."""


def import_ray():
    """The ``ray`` module, or a one-line error that says how to install it."""
    try:
        import ray
    except ImportError:
        raise RayClusterError(f"--ray needs Ray, which is not installed: {INSTALL_HINT}") from None
    return ray


def check_address(address: str, reach: bool = True) -> None:
    """Refuse an address that is neither ``auto``, ``local`` nor ``[ray://]host:port``; with ``reach``,
    refuse a ``host:port`` whose port does not answer (Ray itself would retry for a minute)."""
    if address in ("auto", "local"):
        return
    m = ADDRESS.match(address)
    if not m or not 0 < int(m["port"]) < 65536:
        raise RayClusterError(f"bad --ray address {address!r}: use auto, local or HOST:PORT "
                              "(the address `ray start --head` printed)")
    if not reach:
        return
    try:
        socket.create_connection((m["host"].strip("[]"), int(m["port"])), timeout=REACH_TIMEOUT_S).close()
    except OSError as exc:
        raise RayClusterError(f"no Ray cluster answers at {address}: {exc}") from None


@dataclass(frozen=True)
class NodeInfo:
    """An alive node with resources to time on: its Ray id and its logical CPUs and GPUs."""

    node_id: str
    address: str
    cpus: int
    gpus: int


def alive_nodes(ray) -> list[NodeInfo]:
    """The cluster's alive nodes that have CPUs (or GPUs), in a stable order."""
    out = []
    for n in ray.nodes():
        res = n.get("Resources", {})
        if n.get("Alive") and (res.get("CPU", 0) >= 1 or res.get("GPU", 0) >= 1):
            out.append(NodeInfo(n["NodeID"], n.get("NodeManagerAddress", "?"), int(res.get("CPU", 0)),
                                int(res.get("GPU", 0))))
    return sorted(out, key=lambda n: (n.address, n.node_id))


def node_alive(ray, node_id: str) -> bool:
    return any(n.node_id == node_id for n in alive_nodes(ray))


@contextmanager
def connected(address: str) -> Iterator[object]:
    """``ray`` connected to ``address`` for the duration. A runtime this process already joined (a
    test's ``ray.init``) is used as it is and left running; one joined here is left afterwards."""
    ray = import_ray()
    check_address(address, reach=not ray.is_initialized())
    if ray.is_initialized():
        yield ray
        return
    try:
        if address == "local":
            ray.init(address="local", include_dashboard=False, log_to_driver=False, configure_logging=False)
        else:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise RayClusterError(f"cannot connect to Ray at {address!r}: {str(exc).splitlines()[0]}") from None
    try:
        yield ray
    finally:
        ray.shutdown()
