"""Where a sweep's runs train: worker processes on this machine, this process, or a Dask cluster.

Every pool takes ``submit(key, task, data_key, dataset)`` and reports finished runs with
``wait(timeout)`` as ``(key, outcome)`` pairs; ``free()`` says how many more runs it takes now;
``threads_per_run`` is the BLAS thread count its runs get (None: their own choice) and ``remote`` says
whether they train elsewhere (their files come back with the outcome; a stopped one starts again).
What a worker does with a task is the ``work`` function the pool is given (nnlab.sweep.work.run_task,
or for a members ensemble's seeds nnlab.sweep.task.train_task): a pool knows nothing of training.

Local workers are processes that live for the whole sweep, forked on Linux once the data are
loaded (spawned elsewhere: numpy and nnlab are then imported once per worker, not once per
run).  Each runs with ``threads`` BLAS threads (through the environment before numpy loads
when spawned, through threadpoolctl when forked), so N workers on N cores never fight over
them.  A worker ignores Ctrl-C (the sweep stops them with SIGTERM, which a run in
progress takes like ``nnlab train`` does: status interrupted, checkpoint kept), and stops by
itself within half a second when the ``nnlab sweep`` process is gone (even after SIGKILL).
A worker that dies (out of memory, a crash in a C library) fails only its own run; a new
worker takes its place.

This module imports nothing heavy at the top (no numpy): it is what a spawned worker imports first.
"""

from __future__ import annotations

import os
import signal
import threading
import time

from nnlab.errors import ConfigError
from nnlab.interrupt import graceful_signals
from nnlab.train.threads import limited

BLAS_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
            "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:  # the sweep process is gone: stop the run as Ctrl-C would
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(10)  # its run writes its last files; whatever still holds this process then, it goes
            os._exit(1)


def _worker_main(conn, work, threads: int | None, warm=None, siblings: tuple = ()
                 ) -> None:  # pragma: no cover - runs in a child process
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the sweep process decides what Ctrl-C stops
    try:
        _serve(conn, work, threads, warm, siblings)
    except KeyboardInterrupt:  # a stop signal between runs (or as one ended): leave without a traceback;
        os._exit(1)           # the sweep records the run in progress as interrupted


def _serve(conn, work, threads, warm, siblings) -> None:  # pragma: no cover - runs in a child process
    for fd in siblings:  # forked: the other workers' pipe ends, or their EOF would never come
        try:
            os.close(fd)
        except OSError:
            pass
    if threads:
        for var in BLAS_ENV:
            os.environ[var] = str(threads)
        os.environ["NNLAB_THREADS"] = str(threads)
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    if warm is not None:  # import the training code and load the data now, while the sweep is being prepared
        warm()

    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        key, task = msg
        with graceful_signals():
            out = work(task)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            conn.send((key, out))
        except (BrokenPipeError, OSError):
            return


def _context(spawn: bool = False):
    """fork where it is safe (Linux, no other thread in this process): a worker then starts at once, with
    numpy, nnlab and the sweep's data already loaded; else spawn (a fresh interpreter per worker)."""
    import multiprocessing
    import sys

    if not spawn and sys.platform.startswith("linux") and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


class _Worker:
    def __init__(self, work, threads, warm=None, others=(), spawn: bool = False):
        ctx = _context(spawn)
        self.conn, child = ctx.Pipe()
        # forked, the worker would also hold the other workers' pipe ends and this pipe's own end of the sweep's
        # side: it closes them, so that the sweep process's death is an EOF it sees at once
        siblings = (*(w.conn.fileno() for w in others), self.conn.fileno()) if ctx.get_start_method() == "fork" \
            else ()
        self.process = ctx.Process(target=_worker_main, args=(child, work, threads, warm, siblings), daemon=True,
                                   name="nnlab-sweep-worker")
        self.process.start()
        child.close()
        self.key = None  # the run it trains


class LocalPool:
    """``jobs`` worker processes on this machine, one BLAS thread each (``threads``)."""

    where = "this machine"
    remote = False

    def __init__(self, jobs: int, work, threads: int | None = 1, warm=None):
        """``work(task) -> outcome`` is what a worker does with a task (a module-level function: a spawned
        worker imports it); ``warm()``, when given, runs in each worker as it starts (load the data, import
        the training code: a forked worker has them already, nnlab.sweep.task.remember)."""
        self.jobs, self.work, self.threads, self.warm = jobs, work, threads, warm
        self.workers = []
        for _ in range(jobs):
            self.workers.append(_Worker(work, threads, warm, self.workers))

    @property
    def threads_per_run(self) -> int | None:
        return self.threads

    @property
    def capacity(self) -> int:
        return self.jobs

    def free(self) -> int:
        return sum(w.key is None for w in self.workers)

    def submit(self, key, task: dict, dataset_key: str = "", dataset=None) -> None:
        """Send a run to an idle worker (which loads its data itself: same machine, same files)."""
        w = next(w for w in self.workers if w.key is None)
        w.key = key
        w.conn.send((key, task))

    def wait(self, timeout: float) -> list:
        from multiprocessing.connection import wait

        busy = [w for w in self.workers if w.key is not None]
        if not busy:
            time.sleep(min(timeout, 0.05))
            return []
        ready = set(wait([w.conn for w in busy] + [w.process.sentinel for w in busy], timeout))
        done = []
        for i, w in enumerate(self.workers):
            if w.key is None:
                continue
            if w.conn in ready:
                try:
                    key, out = w.conn.recv()
                    done.append((key, out))
                    w.key = None
                    continue
                except (EOFError, OSError):
                    pass
            if w.conn in ready or w.process.sentinel in ready:
                w.process.join(1)
                done.append((w.key, {"status": "failed", "value": None, "epochs": 0, "seconds": None, "curve": [],
                                     "message": f"the worker process died ({_exit_text(w.process.exitcode)}) "
                                                "while training this run", "died": True}))
                w.conn.close()
                # spawned: a fork now would also inherit the sweep folder's lock and the other pipes
                self.workers[i] = _Worker(self.work, self.threads, self.warm, spawn=True)
        return done

    def stop(self, grace: float = 10.0) -> list:
        """Stop every worker: runs in progress end as interrupted (SIGTERM); returns their outcomes."""
        for w in self.workers:
            if w.process.is_alive():
                try:
                    os.kill(w.process.pid, signal.SIGTERM)
                except OSError:
                    pass
        done, deadline = [], time.monotonic() + grace
        while any(w.key is not None for w in self.workers) and time.monotonic() < deadline:
            for key, out in self.wait(0.2):
                out = dict(out)
                if out.get("died"):
                    out.update(status="interrupted", message="stopped with the sweep")
                done.append((key, out))
        self.close()
        return done

    def close(self) -> None:
        for w in self.workers:
            if w.process.is_alive() and w.key is None:
                try:
                    w.conn.send(None)
                except OSError:
                    pass
        for w in self.workers:
            w.process.join(2)
            if w.process.is_alive():
                w.process.kill()
                w.process.join(1)
            w.conn.close()


class SerialPool:
    """The runs one after another in this process (inside a sweep's worker, which has no children of its
    own: a members ensemble that is one trial of a sweep)."""

    where = "this process"
    remote = False
    capacity = 1

    def __init__(self, work, threads: int | None = None):
        self.work, self.threads_per_run = work, threads
        self.pending = None  # (key, task, dataset)
        self.stopped = False  # a run ended interrupted: the signal that stopped it stops the sweep too

    def free(self) -> int:
        if self.stopped:
            raise KeyboardInterrupt
        return 0 if self.pending else 1

    def submit(self, key, task: dict, dataset_key: str = "", dataset=None) -> None:
        self.pending = (key, task, dataset)

    def wait(self, timeout: float) -> list:
        if self.pending is None:
            return []
        key, task, dataset = self.pending
        out = self.work(task, dataset)
        self.pending = None
        self.stopped = out.get("status") == "interrupted"
        return [(key, out)]

    def stop(self, grace: float = 0.0) -> list:
        return []

    def close(self) -> None:
        self.pending = None


def remote_task(work, task: dict, dataset) -> dict:
    """``work`` on a Dask worker: train in a temporary folder and return every file of the run folder it
    made (its relative path -> bytes, subfolders too: a members ensemble's) with the outcome."""
    import shutil
    import tempfile
    from pathlib import Path

    tmp = tempfile.mkdtemp(prefix="nnlab-sweep-")
    try:
        local = dict(task, run_dir=str(Path(tmp) / Path(task["run_dir"]).name), threads=1, checkpoints=False)
        with limited(1):
            out = work(local, dataset)
        tree = {}
        run_dir = Path(local["run_dir"])
        if run_dir.is_dir():
            for f in sorted(run_dir.rglob("*")):
                rel = f.relative_to(run_dir)
                if f.is_file() and not f.is_symlink() and not any(p.startswith(".") for p in rel.parts):
                    tree[rel.as_posix()] = f.read_bytes()
        out["files"] = tree
        out["host"] = os.uname().nodename
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _exit_text(code) -> str:
    if code is None:
        return "no exit code"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


# ------------------------------------------------------------------ Dask


def _disarm_client(exc: BaseException, client_type) -> None:
    """A Client whose constructor failed still closes itself when collected, through its own event loop,
    and after a bad handshake that loop waits 20 s and prints a TimeoutError at exit: the half-made
    Client (a frame's ``self`` in the traceback) is told it has no loop, as when its constructor fails
    before making one (distributed's Client.__del__ then does nothing)."""
    tb = exc.__traceback__
    while tb is not None:
        obj = tb.tb_frame.f_locals.get("self")
        if isinstance(obj, client_type) and hasattr(obj, "_Client__loop"):
            obj._Client__loop = None
        tb = tb.tb_next


class DaskPool:
    """Runs sent to a Dask cluster (``dask scheduler`` + ``dask worker ADDRESS --nthreads 1``).

    The data are loaded here once and scattered to the workers, so they need nnlab but no
    data files and no shared folder; each run comes back as its files (``remote_task``).
    """

    remote = True
    threads_per_run = 1

    def __init__(self, address: str, work, timeout: float = 10.0, handshake: float = 5.0):
        try:
            from dask.distributed import Client
        except ImportError:
            raise ConfigError("--scheduler needs dask.distributed, which is not installed: "
                              "pip install 'nnlab[cluster]'") from None
        from distributed.comm.addressing import parse_address
        from distributed.comm.registry import backends

        try:  # checked before a Client exists: a failed Client waits 20 s in its __del__
            scheme, where = parse_address(str(address), strict=False)
        except (ValueError, TypeError) as exc:
            scheme, where = None, str(exc)
        if scheme not in backends or not where:
            raise ConfigError(f"--scheduler {address}: not a Dask scheduler address; give one such as "
                              f"tcp://10.0.0.5:8786 (schemes: {', '.join(sorted(backends))})")
        hint = "start one with 'dask scheduler' and workers with 'dask worker ADDRESS --nthreads 1'"
        # Client's timeout covers the connection, not the handshake after it: a server that accepts and
        # then says nothing (an HTTP server) would hold it for ever, one that sends other bytes can make
        # it allocate exabytes.  So the Client is made in a thread that is given up on after a deadline.
        made: dict = {}

        def connect():
            try:
                made["client"] = Client(address, timeout=timeout, set_as_default=False)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller below
                made["error"] = exc

        thread = threading.Thread(target=connect, name="nnlab-dask-connect", daemon=True)
        thread.start()
        thread.join(timeout + handshake)
        exc = made.get("error")
        if exc is not None:
            _disarm_client(exc, Client)
        if thread.is_alive():
            raise ConfigError(f"--scheduler {address}: something answers there, but not a Dask scheduler (no "
                              f"handshake within {timeout + handshake:.0f} s); {hint}")
        if isinstance(exc, MemoryError):  # a length read from bytes that are not a Dask frame
            raise ConfigError(f"--scheduler {address}: something answers there, but not a Dask scheduler (it "
                              f"sent bytes that are not Dask's protocol); {hint}")
        if exc is not None:
            if isinstance(exc, (OSError, TimeoutError, ValueError)):
                raise ConfigError(f"--scheduler {address}: cannot reach a Dask scheduler there ({exc}); {hint}")
            raise exc
        self.work = work
        self.client = made["client"]
        self.address = address
        self.where = f"the Dask cluster at {address}"
        self.futures: dict = {}  # future -> key
        self.data: dict = {}  # data spec -> scattered dataset future
        self._asked, self._capacity = -1e9, 1

    @property
    def capacity(self) -> int:
        """The cluster's worker threads (asked at most once a second: workers come and go)."""
        now = time.monotonic()
        if now - self._asked > 1.0:
            self._capacity = max(1, sum(self.client.nthreads().values()))
            self._asked = now
        return self._capacity

    def free(self) -> int:
        return max(0, self.capacity - len(self.futures))

    def scatter(self, key: str, dataset):
        if key not in self.data:
            self.data[key] = self.client.scatter(dataset, broadcast=True)
        return self.data[key]

    def submit(self, key, task: dict, dataset_key: str, dataset) -> None:
        fut = self.client.submit(remote_task, self.work, task, self.scatter(dataset_key, dataset), pure=False,
                                 key=f"nnlab-{task['sweep']}-{os.path.basename(task['run_dir'])}-{time.time_ns()}")
        self.futures[fut] = key

    def wait(self, timeout: float) -> list:
        deadline = time.monotonic() + timeout
        while not any(f.done() for f in self.futures) and time.monotonic() < deadline:
            time.sleep(0.02)  # Future.done() reads the client's local state: no round trip
        done = []
        for fut in [f for f in self.futures if f.done()]:
            key = self.futures.pop(fut)
            try:
                done.append((key, fut.result()))
            except Exception as exc:  # noqa: BLE001 - a lost worker or a crash there fails this run only
                done.append((key, {"status": "failed", "value": None, "epochs": 0, "seconds": None, "curve": [],
                                   "message": f"on the cluster: {type(exc).__name__}: {exc}"}))
        return done

    def stop(self, grace: float = 0.0) -> list:
        """Cancel what is queued or running on the cluster (those runs are rerun by --resume)."""
        self.close()
        return []

    def close(self) -> None:
        try:
            if self.futures:
                self.client.cancel(list(self.futures))
            self.futures.clear()
            self.client.close(timeout=5)
        except Exception:  # noqa: BLE001 - closing a connection that is already gone
            pass
