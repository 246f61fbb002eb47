"""The partitioned search's workers as Ray actors (`explore --ray ADDRESS|local`).

Each actor holds one `parallel.Partition` for the whole search; the driver
runs the rounds exactly as with local processes (`parallel.partitioned`),
so the states, verdicts and counterexamples are the same. Batches travel
through the driver as pickled blobs (Ray's object store carries them); an
actor that dies (a lost node) raises `workers.WorkerLost`, never a hang.

`address`: "local" starts a Ray instance on this machine for the search
(with `workers` CPUs) and stops it afterwards; anything else is given to
`ray.init(address=...)` ("auto", "ray://head:10001", "head:6379"), and the
spftui package is shipped to the cluster with the job (`runtime_env`
py_modules), so the nodes need only Python and attrs. An address where
nothing answers is a `ClusterError` within seconds (`check_address`), not
Ray's minute-long retries.

Ray is optional (`pip install "spftui[ray]"`): imported here only.
"""

from __future__ import annotations

import os
import socket
import urllib.parse
from typing import Any

from .workers import WorkerLost

_ACTOR: list[Any] = [None]
PROBE_SECONDS = 3.0  # a cluster's head answers a TCP connect in milliseconds; a dead address never does


class ClusterError(Exception):
    """Ray cannot reach the cluster at the address given (a clear error, not a hang)."""


def check_address(address: str) -> None:
    """Raise ClusterError unless something accepts a TCP connection at `address`
    (HOST:PORT, the head's GCS, or ray://HOST:PORT, a Ray Client server).

    `ray.init` retries an unreachable GCS for minutes, printing C++ warnings,
    so a plain connect with a short timeout says so first. "local" and "auto"
    are Ray's to resolve (with no cluster, "auto" fails at once)."""
    if address in ("local", "auto"):
        return
    try:
        where = urllib.parse.urlsplit("//" + address.removeprefix("ray://"))
        host, port = where.hostname, where.port
    except ValueError:  # a port that is not a number or out of range
        host = port = None
    if not host or port is None:
        raise ClusterError(f"'{address}' is not a Ray address (expected local, auto, HOST:PORT or ray://HOST:PORT)")
    try:
        socket.create_connection((host, port), timeout=PROBE_SECONDS).close()
    except OSError as e:
        raise ClusterError(f"cannot reach a Ray cluster at {address}: {e.strerror or e}") from None


def _ray() -> Any:
    try:
        import ray
    except ImportError as e:
        raise ImportError(f'Ray is not installed ({e}): `pip install "spftui[ray]"` (or `pip install ray`)') from None
    return ray


def _actor_class(ray: Any) -> Any:
    if _ACTOR[0] is None:

        class PartitionActor:
            def __init__(self, partition: Any, config: dict[str, Any], me: int) -> None:
                self.part = partition(config, me)

            def round(self, inbox: list[bytes]) -> Any:
                return self.part.round(inbox)

            def state(self) -> Any:
                return self.part.state()

            def load(self, state: Any) -> None:
                self.part.load(state)

            def figures(self) -> Any:
                return self.part.figures()

        _ACTOR[0] = ray.remote(num_cpus=1)(PartitionActor)
    return _ACTOR[0]


class RayBackend:
    """`workers` Ray actors, one partition each (parallel.Backend)."""

    name = "ray"

    def __init__(self, partition: Any, config: dict[str, Any], workers: int, address: str) -> None:
        """`partition`: the class each actor holds (parallel.Partition: passed in, not imported, so the
        modules do not import each other)."""
        ray = self.ray = _ray()
        self.started = False
        if not ray.is_initialized():
            if address == "local":
                n = workers if workers > 1 else (os.cpu_count() or 2)
                ray.init(num_cpus=n, include_dashboard=False, log_to_driver=False, configure_logging=False)
            else:
                import spftui

                check_address(address)
                pkg = os.path.dirname(spftui.__file__)
                try:
                    ray.init(address=address, runtime_env={"py_modules": [pkg]}, log_to_driver=False)
                except (ConnectionError, ValueError) as e:  # no cluster for "auto", a malformed address
                    raise ClusterError(f"cannot reach a Ray cluster at {address}: {e}") from None
            self.started = True
        if workers <= 1:  # the cluster's CPUs decide
            workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
        self.size = workers
        config["workers"] = workers
        cls = _actor_class(ray)
        self.actors = [cls.remote(partition, config, k) for k in range(workers)]

    def call(self, payloads: list[Any]) -> list[Any]:
        ray = self.ray
        refs = []
        for a, p in zip(self.actors, payloads, strict=True):
            refs.append(getattr(a, p[0]).remote(*p[1:]))  # round, state, load or figures
        try:
            return list(ray.get(refs))
        except ray.exceptions.RayActorError as e:
            raise WorkerLost(
                f"a Ray worker of the partitioned search died ({type(e).__name__}); the states it owned are lost, "
                "so the search stops"
            ) from None

    def settle(self) -> None:
        """Nothing owed: an actor runs its calls in order, so the next call waits for the cut one."""

    def close(self) -> None:
        ray = self.ray
        for a in getattr(self, "actors", ()):
            ray.kill(a)
        self.actors = []
        if self.started:
            ray.shutdown()
