"""How many BLAS threads one run uses: settled before it starts, or timed on its own steps.

On this project's 2-core machine a float32 product of 2 million flops or fewer (a batch of
100 through a 100 x 100 layer) is no faster with 2 OpenBLAS threads than with one (19 us
either way: OpenBLAS runs products that small on one thread anyway), while one of 17 million
flops or more is 1.7-1.9x faster on a quiet machine (128 x 256 x 256: 166 vs 97 us; 128 x 784 x 256:
500 vs 276 us; measured with ``python bench/gemm_threads.py``, see docs/performance.md "Threads").
Two threads are not free: OpenBLAS's worker threads spin while they wait, so when other processes
use the cores a two-thread run can become 3-70x slower than the same run with one thread.

The rule (``run_threads``), first match wins:
  - a sweep or ensemble worker's count (``given``; their workers run one thread each);
  - NNLAB_THREADS=N, the user's count;
  - one thread when the largest product of a step is under THRESHOLD flops;
  - one thread when the BLAS library runs one (one core, OPENBLAS_NUM_THREADS=1);
  - else a ThreadChooser times the run's own steps at 1 and at the library's count (a trial in the
    first epoch, then again now and then and when the step time moves) and keeps the larger count
    only while it is clearly faster.
summary.json's ``threads`` records the count, the reason and every change (``record()``).
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time

from nnlab.errors import ConfigError

THRESHOLD = 3e6  # flops of the largest matrix product of one training step


def largest_product_flops(cfg, n_features: int, n_outputs: int, n_train: int) -> float:
    """2 * batch * fan_in * fan_out of the widest Dense layer's forward product."""
    # imported here: the CLI reads NNLAB_THREADS through this module before every command, numpy-free
    from nnlab.components.activations import activations
    from nnlab.train.batching import batch_size_for

    m = cfg.model
    pieces = activations.build(m["activation"]).width_factor  # maxout: k pieces per unit
    outs = [*(h * pieces for h in m["hidden"]), n_outputs]
    ins = [n_features, *m["hidden"]]
    batch = batch_size_for(cfg.train["batch_size"], n_train)
    return max(2.0 * batch * a * b for a, b in zip(ins, outs))


def cores() -> int:
    """The cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


MAX_THREADS = 256  # OpenBLAS builds cap their pools at 64 to 512; more is a typo


def env_threads() -> int | None:
    """NNLAB_THREADS as a thread count, None when it is unset or empty.  Anything but a whole number
    from 1 to MAX_THREADS is a ConfigError (the CLI checks it before any command runs)."""
    text = os.environ.get("NNLAB_THREADS", "").strip()
    if not text:
        return None
    try:
        n = int(text)
    except ValueError:
        n = 0
    if not 1 <= n <= MAX_THREADS:
        raise ConfigError(f"NNLAB_THREADS: must be a whole number from 1 to {MAX_THREADS} (BLAS threads per run), "
                          f"got {text!r}; unset it to let nnlab choose from the matrix sizes")
    return n


def blas_threads(cfg, n_features: int, n_outputs: int, n_train: int) -> int | None:
    """The static rule without a trial (lr-find, the scikit-learn estimators): NNLAB_THREADS if set, 1 for small
    products, else None (the library's default)."""
    n = env_threads()
    if n is not None:
        return n
    return 1 if largest_product_flops(cfg, n_features, n_outputs, n_train) < THRESHOLD else None


@contextlib.contextmanager
def limited(threads: int | None):
    """Run the block with at most ``threads`` BLAS threads (no change for None)."""
    if threads is None:
        yield
        return
    from threadpoolctl import threadpool_limits  # lazy: only runs that train need it

    with threadpool_limits(limits=threads, user_api="blas"):
        yield


# -- the choice of a run: fixed, or timed on the run's own steps --------------------------------------------

MARGIN = 0.10  # the larger count must take at least this much less time per step (median) to be chosen
BLOCK = 4  # steps per block of a trial; the first of each block, just after the switch, is not counted
ROUNDS = 3  # blocks per count in a trial, the counts alternating: 3 x 3 counted steps each, 24 steps at most
RECHECK = 10.0  # seconds of training steps between re-trials; doubled after each re-trial that keeps the count,
MAX_RECHECK = 80.0  # up to this
EARLY = 2.0  # a trial ends at once after two steps in a row this much slower than the other count's median,
FAR = 10.0  # or after one step this much slower
DRIFT = 1.5  # a re-trial also starts when the median step time moves this much the way that may change the choice
WINDOW = 16  # the steps of that median
SHARE = 0.1  # a re-trial waits until the steps since the last trial took 1/SHARE times as long as that trial


def fixed_choice(cfg, n_features: int, n_outputs: int, n_train: int, given: int | None = None
                 ) -> tuple[int | None, str]:
    """(count, reason) when the run's count is settled before it starts, else (None, ''): time it."""
    if given is not None:
        return given, f"{_threads(given)} per run, set by the sweep or ensemble that runs it"
    n = env_threads()
    if n is not None:
        return n, f"NNLAB_THREADS={n}"
    flops = largest_product_flops(cfg, n_features, n_outputs, n_train)
    if flops < THRESHOLD:
        return 1, f"small products ({flops / 1e6:.2g} Mflop < {THRESHOLD / 1e6:.0f} Mflop): 1 thread"
    return None, ""


def _threads(n: int) -> str:
    return f"{n} thread{'s' if n != 1 else ''}"


class FixedThreads:
    """A count chosen before the run: nothing to time."""

    adaptive = False

    def __init__(self, threads: int, reason: str, epoch: int = 1):
        self.threads, self.reason, self.epoch = threads, reason, epoch

    def record(self) -> dict:
        """summary.json's ``threads``."""
        return {"threads": self.threads, "reason": self.reason, "trials": 0,
                "changes": [{"epoch": self.epoch, "threads": self.threads, "reason": self.reason}]}


class ThreadChooser:
    """Chooses between 1 and ``top`` BLAS threads from the run's own training steps, and keeps checking.

    A trial runs the next 24 steps in blocks of 4 at 1, ``top``, ``top``, 1, 1, ``top`` threads (the first
    step of a block is not counted: it pays for the switch) and keeps ``top`` only if its median step time
    is more than MARGIN below one thread's; it ends early when two steps in a row at one count take more
    than EARLY times the other count's median, or one step more than FAR times (on a busy machine a step
    at two threads can take over 100 times as long: a whole trial at that count would cost more than it
    saves).  The steps of a trial are
    the run's real steps.  A re-trial starts after RECHECK seconds of steps (doubling, up to MAX_RECHECK,
    while the choice holds), and sooner when the median of the last WINDOW steps moves by DRIFT from the
    trial's the way that may change the choice (slower with ``top`` threads: load came; faster with one:
    load went); never before the steps since the last trial took 1/SHARE times as long as it did, so
    re-trials cost at most about a tenth of the run.

    The trainer calls ``start()`` before and ``stop(epoch)`` after every training step; ``set_threads(n)``
    applies a count, ``clock()`` reads seconds (both injected: the tests fake them).
    """

    adaptive = True

    def __init__(self, top: int, set_threads, clock=time.perf_counter):
        self.top, self.set_threads, self.clock = top, set_threads, clock
        self.threads: int | None = None  # the chosen count, None until the first trial ends
        self.reason = ""
        self.changes: list[dict] = []
        self.trials = 0
        self.epoch = 1  # of the last step
        self._t0 = 0.0
        self._period = RECHECK
        self._trained = 0.0  # seconds of steps since the last trial
        self._recent: list[float] = []  # the last steps' times at the chosen count
        self._ref = 0.0  # the chosen count's median step time in the last trial
        self._last = 1  # the count of the last step
        self._begin("trial")

    def _begin(self, why: str) -> None:
        self._why = why
        pairs = [(1, self.top), (self.top, 1)]
        self._plan = [(n, k) for r in range(ROUNDS) for n in pairs[r % 2] for k in range(BLOCK)]
        self._times: dict[int, list[float]] = {1: [], self.top: []}
        self._slow = 0  # steps in a row of this block slower than EARLY x the other count's median
        self._trial_seconds = 0.0
        self.set_threads(self._plan[0][0])

    def start(self) -> None:
        self._t0 = self.clock()

    def stop(self, epoch: int) -> None:
        dt = self.clock() - self._t0
        self.epoch = epoch
        if self._plan:  # a trial
            self._trial_seconds += dt
            n, k = self._plan.pop(0)
            self._last = n
            other = self._times[self.top if n == 1 else 1]
            ratio = dt / statistics.median(other) if other else 0.0
            self._slow = self._slow + 1 if ratio > EARLY and k > 0 else int(ratio > EARLY)
            if k > 0 or ratio > FAR:  # the first step of a block counts only when it ends the trial
                self._times[n].append(dt)
            if not self._plan or self._slow == 2 or ratio > FAR:
                self._decide(self._why)
            elif self._plan[0][0] != n:
                self.set_threads(self._plan[0][0])
            return
        self._trained += dt
        self._recent.append(dt)
        if len(self._recent) < WINDOW:
            return
        now = statistics.median(self._recent)
        self._recent.clear()
        if self._trained * SHARE < self._trial_seconds:  # the trials stay a small share of the run
            return
        # slower with `top` threads (load came: one may now be better), or faster with one (load went)
        moved = now > DRIFT * self._ref if self.threads == self.top else now * DRIFT < self._ref
        if moved:
            self._begin(f"re-trial (step time {_ms(self._ref)} -> {_ms(now)})")
        elif self._trained >= self._period:
            self._begin(f"re-trial after {self._period:.0f} s of steps")

    def _decide(self, why: str) -> None:
        one, many = statistics.median(self._times[1]), statistics.median(self._times[self.top])
        choice = self.top if many < (1 - MARGIN) * one else 1
        self.reason = f"{why}: 1 thread {_ms(one)}/step, {self.top} threads {_ms(many)}/step"
        self.trials += 1
        if choice != self.threads:
            self.changes.append({"epoch": self.epoch, "threads": choice, "reason": self.reason})
            self._period = RECHECK
        else:
            self._period = min(2 * self._period, MAX_RECHECK)
        self.threads, self._ref = choice, (one if choice == 1 else many)
        self._plan, self._trained, self._recent = [], 0.0, []
        self.set_threads(choice)

    def record(self) -> dict:
        """summary.json's ``threads``: the count at the end, the reason of the last decision, every change."""
        if self.threads is None:  # the run ended inside its first trial
            if all(self._times.values()):
                self._decide("trial (cut short by the end of the run)")
            else:
                self.threads = self._last
                self.reason = "the run ended before its trial could compare the counts"
                self.changes.append({"epoch": self.epoch, "threads": self.threads, "reason": self.reason})
        return {"threads": self.threads, "reason": self.reason, "trials": self.trials, "changes": self.changes}


def continued(earlier: dict, now: dict) -> dict:
    """A resumed run's record: its changes and trials follow those of the process before (``earlier``)."""
    if earlier:
        now.update(changes=earlier.get("changes", []) + now["changes"], trials=earlier.get("trials", 0) + now["trials"])
    return now


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3g} ms"


def same_numbers(cfg, dataset, counts, set_threads) -> bool:
    """Whether a step's products come out bit for bit the same with each count: a forward and backward pass of
    a scratch copy of the model over the first batch, and the gradient's squared norm.  (Every inner dimension
    of the run's products is there: fan-in and fan-out, and the batch in the weight gradient; an evaluation
    pass has the forward pass's.)"""
    import numpy as np

    from nnlab.train.batching import batch_size_for
    from nnlab.train.trainer import build  # lazy: the CLI imports this module numpy-free

    x = dataset.x_train[:batch_size_for(cfg.train["batch_size"], len(dataset.x_train))]
    y = dataset.y_train[:len(x)]
    results = []
    for n in counts:
        set_threads(n)
        model, loss_fn, _ = build(cfg, dataset)
        with np.errstate(all="ignore"):
            _, dout = loss_fn(model.forward_buffered(x, train=True), y)
            model.backward(dout)
            g = model.grads
            results.append((g.copy(), np.dot(g, g)))
    first = results[0]
    return all(all(np.array_equal(a, b) for a, b in zip(first, r)) for r in results[1:])


@contextlib.contextmanager
def run_threads(cfg, dataset, given: int | None = None, epoch: int = 1, clock=time.perf_counter):
    """The BLAS threads of a run, for the block: yields a FixedThreads (``given`` by a sweep or ensemble,
    NNLAB_THREADS, small products, a one-thread library, or a network whose numbers differ between the counts)
    or a ThreadChooser between 1 and the library's own count (at most the cores); the library's count is
    restored after."""
    n, reason = fixed_choice(cfg, dataset.n_features, dataset.n_outputs, len(dataset.x_train), given)
    libs, top = [], 1
    if n is None:
        from threadpoolctl import ThreadpoolController  # lazy: only runs that train need it

        libs = ThreadpoolController().select(user_api="blas").lib_controllers
        top = min(cores(), max((lib.num_threads for lib in libs), default=1))
        if top == 1:
            n, reason = 1, "1 thread: the BLAS library runs one (one core, or OPENBLAS_NUM_THREADS=1)"
    if n is not None:
        with limited(n):
            yield FixedThreads(n, reason, epoch)
        return
    original = [lib.num_threads for lib in libs]

    def set_threads(k: int) -> None:
        for lib in libs:
            lib.set_num_threads(k)

    try:
        if same_numbers(cfg, dataset, (1, top), set_threads):
            yield ThreadChooser(top, set_threads, clock)
        else:  # timing would make the numbers depend on the machine's load: the same config and seed must not
            set_threads(top)
            yield FixedThreads(top, f"{top} threads, not timed: this network's float32 products differ in the last "
                                    f"bits between 1 and {top} threads, and the same config and seed must give the "
                                    "same numbers (NNLAB_THREADS=1 is faster on a busy machine)", epoch)
    finally:
        for lib, k in zip(libs, original):
            lib.set_num_threads(k)
