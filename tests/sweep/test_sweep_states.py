"""Stateful tests (hypothesis' RuleBasedStateMachine) of a sweep folder and of a claims output folder.

A sweep folder is run, interrupted after any number of runs, resumed, extended, damaged (a run's
metrics.csv, summary.json or whole folder gone, trials.csv gone or cut mid-line) and resumed again, in
any order.  After every step: no finished run was trained again or lost (unless the step damaged it),
trials.csv and summary.json agree with the run folders, and nothing outside the folder changed.

The claims folder (a quick claim: one regime, a tuning and a judging sweep) is run, interrupted in either
sweep, damaged, given a foreign file (nnlab must refuse or leave it, and delete nothing), changed (the
claim file's epochs) and run again; the same invariants hold in each sweep, a finished claim's values.csv
agrees with its judging runs, and a foreign file is never deleted.

In CI each machine runs a few examples (NNLAB_STATEFUL_EXAMPLES, default 6); a longer local run
(e.g. NNLAB_STATEFUL_EXAMPLES=200) is reported in docs/testing.md.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from nnlab.errors import NnlabError
from nnlab.runs import load_run, read_metrics
from nnlab.sweep import record
from nnlab.sweep.lifecycle import SweepView, run_sweep
from nnlab.sweep.pool import SerialPool
from nnlab.sweep.spec import build_spec, param_from
from nnlab.sweep.work import run_task

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("NNLAB_STATEFUL_EXAMPLES", "6"))
STATES = settings(max_examples=EXAMPLES, stateful_step_count=8, deadline=None,
                  suppress_health_check=list(HealthCheck))
BASE = {"name": "s", "data": {"name": "xor", "n_samples": 60}, "model": {"hidden": [4], "activation": "tanh"},
        "train": {"epochs": 2, "batch_size": 20, "optimizer": {"name": "sgd", "lr": 0.1}}}


class StopAfter(SweepView):
    """Presses Ctrl-C once ``k`` runs have finished (None: never)."""

    def __init__(self, k):
        self.k, self.done = k, 0

    def finished(self, sweep, trial, seed):
        self.done += 1
        if self.k is not None and self.done >= self.k:
            raise KeyboardInterrupt


def tree_hash(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        h.update(str(p.relative_to(folder)).encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


def finished_runs(folder: Path) -> dict:
    """Run folder name -> its start time, for every finished run whose files are all there."""
    out = {}
    for d in sorted((folder / "runs").glob("t*-seed*")):
        run = load_run(d)
        if run is not None and run.status in ("completed", "diverged", "pruned") and not run.warnings \
                and (d / "metrics.csv").is_file() and read_metrics(d / "metrics.csv"):
            out[d.name] = run.summary.get("started")
    return out


def check_records(folder: Path) -> None:
    """trials.csv and summary.json agree with the run folders (when the sweep is not running)."""
    sweep = record.read_sweep(folder)
    for t in sweep.trials:
        for r in t.records:
            d = folder / "runs" / r.name
            if r.status in ("completed", "diverged", "pruned"):
                run = load_run(d)
                assert run is not None and run.status == r.status, (r.name, r.status)
                assert len(read_metrics(d / "metrics.csv")) == r.epochs, r.name
    summary = json.loads((folder / "summary.json").read_text())
    if summary.get("status") in ("completed", "interrupted") and "finished" in summary:
        want = record.outcome(sweep.trials, sweep.direction)
        assert summary["counts"] == want["counts"] and summary["run_counts"] == want["run_counts"]
        if summary["status"] == "completed":
            assert (summary["best"] or {}).get("trial") == (want["best"] or {}).get("trial")


class SweepStates(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="nnlab-states-"))
        self.outside = self.tmp / "outside"
        self.outside.mkdir()
        (self.outside / "keep.txt").write_text("not nnlab's")
        self.outside_hash = tree_hash(self.outside)
        self.folder = self.tmp / "sweep"
        self.trials = 3
        self.finished: dict = {}

    def spec(self, trials=None):
        errors = []
        p = param_from("train.optimizer.lr", {"low": 0.01, "high": 0.5, "log": True}, "params", errors)
        return build_spec({"name": "s", "method": "random", "trials": trials or self.trials, "seeds": [0, 1],
                           "seed": 7}, json.loads(json.dumps(BASE)), [p], "s.yaml")

    def go(self, resume: bool, stop, more=None) -> None:
        try:
            run_sweep(self.spec(more if not resume else None), lambda datasets: SerialPool(run_task),
                      folder=self.folder, resume=resume, view=StopAfter(stop), more_trials=more,
                      figures=False)  # the figures are not what these steps test, and they cost a second each
        except KeyboardInterrupt:
            pass
        check_records(self.folder)  # after every step of nnlab's (not after the damage, which is the user's)
        now = finished_runs(self.folder)
        for name, started in self.finished.items():  # never trained twice, never lost
            assert now.get(name) == started, f"{name}: trained again or lost"
        self.finished = {**now, **self.finished}

    @initialize(stop=st.none() | st.integers(1, 5))
    def start(self, stop):
        self.go(False, stop)

    @rule(stop=st.none() | st.integers(1, 5))
    def resume(self, stop):
        self.go(True, stop)

    @rule(extra=st.integers(1, 2))
    def extend(self, extra):
        self.trials += extra
        self.go(True, None, more=self.trials)

    @precondition(lambda self: self.finished)
    @rule(data=st.data(), how=st.sampled_from(["metrics", "summary", "folder"]))
    def damage_a_run(self, data, how):
        name = data.draw(st.sampled_from(sorted(self.finished)))
        d = self.folder / "runs" / name
        if how == "metrics":
            (d / "metrics.csv").unlink()
        elif how == "summary":
            (d / "summary.json").write_text("{cut")
        else:
            shutil.rmtree(d)
        del self.finished[name]  # it may be trained again: that is the point

    @rule(how=st.sampled_from(["gone", "cut"]))
    def damage_trials_csv(self, how):
        p = self.folder / "trials.csv"
        if not p.exists():
            return
        if how == "gone":
            p.unlink()
        else:
            text = p.read_text()
            p.write_text(text[: max(0, len(text) - 7)])

    @invariant()
    def nothing_outside_changed(self):
        assert tree_hash(self.outside) == self.outside_hash

    def teardown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


TestSweepStates = SweepStates.TestCase
TestSweepStates.settings = STATES


# ------------------------------------------------------------------ a claims output folder


NOTE = "A note for the tests: tanh trains\nbetter than ReLU on xor.\n"
CLAIM = {"claim": {"title": "t", "source": {"note": "n.txt", "section": "s",
                                            "original": "tanh trains better than ReLU on xor."},
                   "quote": "q", "design": "d", "expect": [{"metric": "val_acc", "better": "tanh", "than": "relu"}]},
         "config": BASE, "variants": {"tanh": {"model.activation": "tanh"}, "relu": {"model.activation": "relu"}},
         "tune": {"train.optimizer.lr": [0.05, 0.2]}, "regimes": {"xor": {}}, "seeds": 10}
CLAIM_RUNS = 8  # --quick: 2 variants x 2 rates x 1 tuning seed (xor/tune), 2 variants x 2 judging seeds (xor/judge)


def claim_sweeps(folder: Path) -> list[Path]:
    """The sweep folders of a claim folder: <regime>/tune, <regime>/judge, ..."""
    return sorted(p for p in folder.glob("*/*") if p.is_dir())


def claim_runs(folder: Path) -> dict:
    """'<regime>/<sweep>/<run>' -> (its start time, its config's train.epochs) for every finished run of every
    sweep of the claim folder."""
    out = {}
    for sub in claim_sweeps(folder):
        for name, started in finished_runs(sub).items():
            epochs = yaml.safe_load((sub / "runs" / name / "config.yaml").read_text())["train"]["epochs"]
            out[f"{sub.parent.name}/{sub.name}/{name}"] = (started, epochs)
    return out


class StopAfterNoting(StopAfter):
    """StopAfter that also notes the folder of each sweep it is shown (the sweeps a claim's run opened)."""

    def __init__(self, k, opened: list):
        super().__init__(k)
        self.opened = opened

    def start(self, sweep):
        self.opened.append(sweep.folder)


class ClaimStates(RuleBasedStateMachine):
    """A claims folder (``nnlab claims run --quick``: one regime, a tuning sweep and a judging sweep) run,
    interrupted in any of its sweeps, damaged, given a foreign file, changed and run again."""

    def __init__(self):
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="nnlab-claims-"))
        self.claims = self.tmp / "claims"
        (self.claims / "notes").mkdir(parents=True)
        (self.claims / "notes" / "n.txt").write_text(NOTE)
        self.epochs = 2
        self.write_claim()
        self.out = self.tmp / "out"
        self.folder = self.out / "c-quick"
        self.outside = self.tmp / "outside"
        self.outside.mkdir()
        (self.outside / "keep.txt").write_text("not nnlab's")
        self.outside_hash = tree_hash(self.outside)
        self.finished: dict = {}  # what claim_runs said after nnlab's last step, less the runs damaged since
        self.foreign: Path | None = None
        self.complete = False  # the last run finished the claim, and nothing changed since
        self.outcomes: list = []  # 'ran', 'reused', 'interrupted' or 'refused', per run

    def write_claim(self):
        doc = json.loads(json.dumps(CLAIM))
        doc["config"]["train"]["epochs"] = self.epochs
        (self.claims / "c.yaml").write_text(yaml.safe_dump(doc))

    def go(self, stop) -> None:
        from nnlab.claims.claim import load_claim
        from nnlab.claims.run import Progress, read_values, run_claim

        claim = load_claim(self.claims / "c.yaml", quick=True)
        before = claim_runs(self.folder) if self.folder.is_dir() else {}
        opened: list = []
        try:
            _, how, n = run_claim(claim, self.out, 1, Progress(say=lambda s: None,
                                                               view=lambda spec, title: StopAfterNoting(stop, opened)))
        except KeyboardInterrupt:
            how = "interrupted"
        except NnlabError as exc:  # refused: only ever for the foreign file
            assert self.foreign is not None and self.foreign.exists() and str(self.foreign) in str(exc), str(exc)
            how = "refused"
        self.outcomes.append(how)
        assert self.foreign is None or not self.foreign.exists() or self.foreign.read_text() == "mine"
        # the sweeps nnlab ran (a sweep it did not reach, or refused, is as the user left it); all of them when
        # the claim finished (a sweep it kept was checked complete)
        for sub in (claim_sweeps(self.folder) if how in ("ran", "reused") else opened):
            check_records(sub)
        now = claim_runs(self.folder)
        for k, (started, epochs) in self.finished.items():  # a run of the claim as it is now: never again, never lost
            if epochs == self.epochs:
                assert now.get(k) == (started, epochs), f"{k}: trained again or lost"
        if how == "refused":  # what holds the foreign file is left as it was: the whole claim, or that sweep
            rel = self.foreign.relative_to(self.folder).parts
            scope = "" if len(rel) == 1 else f"{rel[0]}/{rel[1]}/"
            for k, v in before.items():
                if k.startswith(scope):
                    assert now.get(k) == v, f"{k}: changed although nnlab refused"
        elif how != "interrupted":
            assert n == CLAIM_RUNS and len(now) == CLAIM_RUNS, (n, sorted(now))
            assert {e for _, e in now.values()} == {self.epochs}  # a changed claim ran again, whole
            assert json.loads((self.folder / "summary.json").read_text())["status"] == "completed"
            rows = read_values(self.folder)  # the values agree with the judging runs they were measured on
            assert sorted(r["run"] for r in rows) == sorted(f"xor/judge/runs/{k.split('/')[2]}" for k in now
                                                            if k.startswith("xor/judge/"))
            for r in rows:
                test = json.loads((self.folder / r["run"] / "summary.json").read_text())["test"]
                assert r["test_acc"] == test["acc"], r
            if self.complete:
                assert how == "reused", "a finished claim, unchanged since, ran again"
        self.complete = how in ("ran", "reused") or (how == "refused" and self.complete)
        self.finished = now

    @initialize(stop=st.none() | st.integers(1, 4))
    def start(self, stop):
        self.go(stop)

    @rule(stop=st.none() | st.integers(1, 4))
    def run_again(self, stop):
        self.go(stop)

    @precondition(lambda self: self.finished)
    @rule(data=st.data(), how=st.sampled_from(["summary", "folder"]))
    def damage_a_run(self, data, how):
        key = data.draw(st.sampled_from(sorted(self.finished)))
        d = self.folder.joinpath(*key.split("/")[:2], "runs", key.split("/")[2])
        if self.foreign is not None and d in self.foreign.parents:
            how = "summary"  # the user's own file stays: only nnlab's is damaged
        if how == "summary":
            (d / "summary.json").write_text("{cut")
        else:
            shutil.rmtree(d)
        del self.finished[key]  # it may be trained again: that is the point
        self.complete = False

    @precondition(lambda self: self.folder.is_dir() and self.foreign is None)
    @rule(where=st.sampled_from(["claim", "regime", "tune", "judge"]))
    def leave_a_foreign_file(self, where):
        places = {"claim": self.folder, "regime": self.folder / "xor",
                  "tune": self.folder / "xor" / "tune" / "runs" / "t000-seed100",
                  "judge": self.folder / "xor" / "judge" / "runs" / "t000-seed0"}
        place = places[where] if places[where].is_dir() else self.folder
        self.foreign = place / "notes.txt"
        self.foreign.write_text("mine")

    @precondition(lambda self: self.foreign is not None)
    @rule()
    def take_the_foreign_file_back(self):
        assert self.foreign.read_text() == "mine"  # never deleted by nnlab
        self.foreign.unlink()
        self.foreign = None

    @rule()
    def change_the_claim(self):
        self.epochs += 1  # every sweep's plan changes: each runs again, in place, when nothing foreign is in it
        self.write_claim()
        self.complete = False

    @invariant()
    def nothing_outside_changed_and_the_foreign_file_kept(self):
        assert tree_hash(self.outside) == self.outside_hash
        if self.foreign is not None:
            assert self.foreign.read_text() == "mine"

    def teardown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


TestClaimStates = ClaimStates.TestCase
TestClaimStates.settings = STATES


def test_the_state_machines_see_real_folders():
    """A direct run of the steps the machines take, so that a broken helper cannot make them vacuous."""
    m = SweepStates()
    try:
        m.start(2)
        assert len(m.finished) == 2 and m.folder.is_dir()
        m.resume(None)
        rows = list(csv.DictReader(open(m.folder / "trials.csv")))
        assert len(rows) == 6 and {r["status"] for r in rows} == {"completed"}
        m.damage_a_run(type("D", (), {"draw": lambda self, s: sorted(m.finished)[0]})(), "metrics")
        m.resume(None)
        m.nothing_outside_changed()
        assert len(m.finished) == 6
    finally:
        m.teardown()
    c = ClaimStates()
    try:
        c.start(3)  # the tuning sweep stopped after 3 of its 4 runs
        assert sorted(c.finished) == ["xor/tune/t000-seed100", "xor/tune/t001-seed100", "xor/tune/t002-seed100"]
        c.run_again(None)
        assert c.outcomes == ["interrupted", "ran"] and len(c.finished) == CLAIM_RUNS
        c.damage_a_run(type("D", (), {"draw": lambda self, s: "xor/judge/t001-seed1"})(), "folder")
        c.run_again(None)  # resumed, not reused: that run alone trained again
        assert c.outcomes[-1] == "ran" and len(c.finished) == CLAIM_RUNS
        c.leave_a_foreign_file("judge")
        c.change_the_claim()
        c.run_again(None)  # the tuning sweep ran again; the judging sweep, holding the foreign file, refused
        assert c.outcomes[-1] == "refused" and {e for _, e in claim_runs(c.folder).values()} == {2, 3}
        c.take_the_foreign_file_back()
        c.run_again(None)
        c.run_again(None)
        assert c.outcomes[-2:] == ["ran", "reused"] and {e for _, e in c.finished.values()} == {3}
        c.nothing_outside_changed_and_the_foreign_file_kept()
    finally:
        c.teardown()
