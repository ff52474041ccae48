"""Where the next trial comes from: a grid, seeded random draws, or Optuna's TPE.

Every sampler hands out ``(trial number, {param path: value})`` with ``next()`` and hears the
outcome with ``tell(number, value, state)``.  Grid and random points are a pure function of
the spec (random point i is drawn from ``numpy.random.default_rng([seed, i])``), so a resumed
or extended sweep recomputes them; TPE keeps its history in an Optuna journal file inside the
sweep folder (``optuna.storages.JournalStorage``: no server, safe for several processes).
"""

from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path

from nnlab.errors import ConfigError, RunError
from nnlab.files import TABLE_MAX_BYTES, atomic_write, read_text_bounded
from nnlab.sweep.spec import SweepSpec, planned_points, random_point, round_significant
from nnlab.text import setting


class GridSampler:
    """Every point of a grid (or of a list sweep's points), in order."""

    adaptive = False  # its points do not depend on earlier results

    def __init__(self, spec: SweepSpec):
        self.points = list(planned_points(spec))
        self.next_number = 0

    @property
    def total(self) -> int:
        return len(self.points)

    def point(self, number: int) -> dict:
        return self.points[number]

    def next(self):
        if self.next_number >= len(self.points):
            return None
        n = self.next_number
        self.next_number += 1
        return n, self.points[n]

    def tell(self, number: int, value: float | None, state: str) -> None:
        pass


class RandomSampler(GridSampler):
    def __init__(self, spec: SweepSpec):
        self.spec = spec
        self.next_number = 0

    @property
    def total(self) -> int:
        return self.spec.trials

    def point(self, number: int) -> dict:
        return random_point(self.spec.params, self.spec.seed, number)

    def next(self):
        if self.next_number >= self.spec.trials:
            return None
        n = self.next_number
        self.next_number += 1
        return n, self.point(n)


JOURNAL = "optuna.journal"


def _optuna():
    try:
        import optuna
    except ImportError:  # pragma: no cover - a runtime dependency; only a broken install lacks it

        raise ConfigError("method: tpe needs Optuna, which is missing: pip install optuna") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


class TPESampler:
    """Optuna's TPE through ask/tell; trial numbers are Optuna's, so a resumed study lines up.

    Float ranges are rounded to 4 significant digits before a run uses them (readable configs);
    Optuna keeps the exact draw.  Categorical params are given to Optuna as their text labels.

    Adaptive: each point is drawn from the results told before it (even whether it is one of the random
    start-up draws depends on how many were complete), so the sweep asks for a trial only once every earlier
    one is told: the same sweep gives the same trials whatever the number of workers and whatever finishes
    first (a trial's seeds still run side by side).
    """

    adaptive = True

    def __init__(self, spec: SweepSpec, folder: str | Path, n_startup: int | None = None):
        optuna = _optuna()
        self.spec = spec
        self.total_trials = spec.trials
        self.labels = {p.path: {setting(c): c for c in p.choices} for p in spec.params if not p.is_range}
        self.dists = {}
        for p in spec.params:
            if not p.is_range:
                self.dists[p.path] = optuna.distributions.CategoricalDistribution(list(self.labels[p.path]))
            elif p.int:
                self.dists[p.path] = optuna.distributions.IntDistribution(int(p.low), int(p.high), log=p.log)
            else:
                self.dists[p.path] = optuna.distributions.FloatDistribution(p.low, p.high, log=p.log)
        if n_startup is None:  # random draws before TPE's model takes over: Optuna's 10, fewer for short sweeps
            n_startup = min(10, max(3, spec.trials // 4))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # multivariate and constant_liar are 'experimental' in Optuna 4
            sampler = optuna.samplers.TPESampler(seed=spec.seed, n_startup_trials=n_startup, multivariate=True,
                                                 constant_liar=True)
            from optuna.storages import JournalStorage
            from optuna.storages.journal import JournalFileBackend

            journal = Path(folder) / JOURNAL
            self.notes = check_journal(journal)
            storage = JournalStorage(JournalFileBackend(str(journal)))
            self.study = optuna.create_study(study_name=spec.name, storage=storage, sampler=sampler,
                                             direction=spec.direction, load_if_exists=True)
        self.optuna = optuna

    @property
    def total(self) -> int:
        return self.total_trials

    def _values(self, params: dict) -> dict:
        out = {}
        for p in self.spec.params:
            v = params[p.path]
            if not p.is_range:
                v = self.labels[p.path][v]
            elif not p.int:
                v = min(p.high, max(p.low, round_significant(float(v))))
            out[p.path] = v
        return out

    def asked(self) -> int:
        return len(self.study.get_trials(deepcopy=False))

    def pending(self) -> list[tuple[int, dict]]:
        """Trials asked but never told (a sweep stopped while they ran): they are run again."""
        T = self.optuna.trial.TrialState
        return [(t.number, self._values(t.params)) for t in self.study.get_trials(deepcopy=False)
                if t.state == T.RUNNING and set(t.params) == set(self.dists)]

    def point(self, number: int) -> dict:
        return self._values(self.study.get_trials(deepcopy=False)[number].params)

    def next(self):
        if self.asked() >= self.total_trials:
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trial = self.study.ask(self.dists)
        return trial.number, self._values(trial.params)

    def tell(self, number: int, value: float | None, state: str) -> None:
        T = self.optuna.trial.TrialState
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                if state == "pruned":
                    self.study.tell(number, state=T.PRUNED)
                elif state == "failed" or value is None or math.isnan(value):
                    self.study.tell(number, state=T.FAIL)
                else:
                    self.study.tell(number, value)
            except (ValueError, RuntimeError):  # told already (a resumed sweep): nothing to add
                pass


def check_journal(journal: Path) -> list[str]:
    """A journal Optuna can read and append to, or one RunError line; notes on what was mended.

    Optuna opens it and reads it whole, so it must be a regular file under the size cap (a FIFO would block
    for ever).  Every line is one JSON record; a last line without its newline is a write a kill cut short:
    it is dropped (that trial is asked again).  Anything else unreadable is damage nnlab will not guess at."""
    if not os.path.lexists(journal):
        return []
    text = read_text_bounded(journal, TABLE_MAX_BYTES, "the sweep's Optuna journal", RunError)
    lines = text.split("\n")
    notes = []
    if lines[-1]:  # the last line lacks its newline
        notes.append(f"{journal}: its last record was cut short (a stop mid-write); it is dropped and that trial "
                     "asked again")
        lines[-1] = ""
        atomic_write(journal, "\n".join(lines))
    for i, line in enumerate(lines[:-1], start=1):
        try:
            ok = isinstance(json.loads(line), dict)
        except ValueError:
            ok = False
        if not ok:
            raise RunError(f"{journal}: line {i} is not one of Optuna's records (the file is damaged); the TPE "
                           "sweep's history cannot be read: restore the file, or start the sweep again in a new "
                           "folder")
    return notes


def make_sampler(spec: SweepSpec, folder):
    if spec.method in ("grid", "list"):
        return GridSampler(spec)
    if spec.method == "random":
        return RandomSampler(spec)
    return TPESampler(spec, folder)
