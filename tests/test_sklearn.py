"""nnlab.sklearn: MLPClassifier and MLPRegressor pass scikit-learn's own estimator checks (every one, none marked
as an expected failure), train as nnlab trains (the same loss per epoch as the run folder nnlab writes for the
same config and arrays), work in a Pipeline and GridSearchCV, and write nothing unless runs_dir is given."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
import yaml

pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import FitFailedWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import nnlab  # noqa: E402
from nnlab.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

EXPECTED_FAILURES: dict = {}  # check name -> why; docs/sklearn.md lists them: none


@pytest.mark.slow
@parametrize_with_checks([MLPClassifier(), MLPRegressor()],
                         expected_failed_checks=lambda est: EXPECTED_FAILURES)
def test_scikit_learns_estimator_checks(estimator, check):
    check(estimator)


def blobs(n=120, seed=0):
    x, y, _, _ = nnlab.dataset("blobs", n_samples=n, classes=3, n_features=4, seed=seed)
    return x, y


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NNLAB_CACHE", str(tmp_path / "cache"))
    return tmp_path


def test_fit_predict_and_the_fitted_attributes(in_tmp):
    x, y = blobs()
    labels = np.array(["ant", "bee", "cat"])[y]
    clf = MLPClassifier(hidden=(16,), epochs=20, lr=1e-2).fit(x, labels)
    assert list(clf.classes_) == ["ant", "bee", "cat"] and clf.n_features_in_ == 4 and clf.n_iter_ == 20
    proba = clf.predict_proba(x)
    np.testing.assert_allclose(proba.sum(axis=1), 1)
    assert (clf.predict(x) == clf.classes_[proba.argmax(axis=1)]).all()
    assert clf.score(x, labels) > 0.9
    assert clf.config_["model"]["hidden"] == [16] and clf.config_["data"]["val_fraction"] == 0.0
    assert len(clf.loss_curve_) == 20 and clf.loss_curve_[-1] < clf.loss_curve_[0]
    assert clf.run_ is None and list(in_tmp.iterdir()) == []  # nothing written: no run folder, no cache


@pytest.mark.slow
def test_fit_trains_exactly_as_nnlab_train_does_on_the_same_config_and_arrays(in_tmp):
    x, y = blobs()
    clf = MLPClassifier(hidden=(8, 8), epochs=12, batch_size=25, lr=5e-3, seed=3).fit(x, y)
    np.savez(in_tmp / "d.npz", x=x, y=y, x_test=x, y_test=y)
    cfg = {**clf.config_, "data": {**clf.config_["data"], "path": str(in_tmp / "d.npz")}}
    run = nnlab.train(cfg)
    np.testing.assert_array_equal(clf.loss_curve_, run.metrics["train_loss"])
    np.testing.assert_array_equal([r["train_acc"] for r in clf.history_], run.metrics["train_acc"])
    np.testing.assert_allclose(clf.predict_proba(x), run.predict_proba(x), rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_a_run_folder_only_when_asked_and_it_reads_back(in_tmp):
    x, y = blobs()
    clf = MLPClassifier(hidden=(8,), epochs=10, runs_dir="runs", name="blobs_clf").fit(x, y)
    quiet = MLPClassifier(hidden=(8,), epochs=10).fit(x, y)
    run = clf.run_
    assert isinstance(run, nnlab.Run) and run.status == "completed" and run.path.name.endswith("_blobs_clf")
    np.testing.assert_array_equal(clf.loss_curve_, quiet.loss_curve_)  # the same training, folder or not
    np.testing.assert_array_equal(run.metrics["train_loss"], clf.loss_curve_)
    assert run.summary["test"] == {"loss": None, "acc": None}
    assert run.summary["test_held_back"].startswith("an estimator's run: fit() has no test set")
    assert run.summary["estimator"] == "MLPClassifier"
    kept = yaml.safe_load((run.path / "config.yaml").read_text())["data"]["path"]
    assert kept.startswith(str(in_tmp / "cache" / "arrays")) and kept.endswith(".npz")
    assert (run.predict(x) == clf.predict(x)).all()  # the folder alone predicts as the estimator
    again = pickle.loads(pickle.dumps(clf))
    assert again.run_ == run and (again.predict(x) == clf.predict(x)).all()


def test_config_gives_the_base_and_parameters_override_it(in_tmp):
    (in_tmp / "c.yaml").write_text(yaml.safe_dump({
        "model": {"hidden": [12], "activation": "tanh"}, "data": {"val_fraction": 0.2, "preprocess": "none"},
        "train": {"epochs": 3, "optimizer": {"name": "adam", "lr": 0.02, "beta1": 0.8}}}))
    x, y = blobs()
    clf = MLPClassifier(config="c.yaml", epochs=4).fit(x, y)
    c = clf.config_
    assert c["model"]["hidden"] == [12] and c["model"]["activation"]["name"] == "tanh" and c["train"]["epochs"] == 4
    assert c["train"]["optimizer"]["beta1"] == 0.8 and c["data"]["val_fraction"] == 0.2 and c["name"] == "c"
    assert clf.history_[0]["val_acc"] is not None  # the config's validation split
    c = MLPClassifier(config="c.yaml", optimizer="sgd", lr=0.1).fit(x, y).config_
    assert c["train"]["optimizer"] == {"name": "sgd", "lr": 0.1, "momentum": 0.0, "nesterov": False, "form": "torch"}
    assert MLPClassifier(config={"train": {"epochs": 2}}).fit(x, y).n_iter_ == 2


def test_bad_parameters_are_one_value_error_line(in_tmp):
    x, y = blobs()
    with pytest.raises(ValueError, match=r"MLPClassifier: model.activation: unknown activation 'relux'; choose "
                                         r"from .* \(did you mean 'relu'\?\)"):
        MLPClassifier(activation="relux").fit(x, y)
    with pytest.raises(ValueError, match="MLPRegressor: train.optimizer.lr: must be greater than 0, got -1"):
        MLPRegressor(lr=-1).fit(x, y.astype(float))
    with pytest.raises(ValueError, match="y has 1 class"):
        MLPClassifier().fit(x, np.zeros(len(x)))


def test_a_regressor_takes_integer_targets_as_numbers_and_several_columns(in_tmp):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    y = np.rint(3 * x[:, 0] - x[:, 1]).astype(int)  # whole numbers: still regression targets
    reg = MLPRegressor(hidden=(32,), epochs=100, lr=1e-2).fit(x, y)
    assert reg.n_outputs_ == 1 and reg.predict(x).shape == (200,) and reg.score(x, y) > 0.9
    two = MLPRegressor(hidden=(16,), epochs=20).fit(x, np.c_[y, -y])
    assert two.n_outputs_ == 2 and two.predict(x).shape == (200, 2)


def test_pipeline_and_grid_search(in_tmp):
    x, y = blobs(n=150)
    pipe = make_pipeline(StandardScaler(), MLPClassifier(epochs=15, preprocess="none"))
    grid = GridSearchCV(pipe, {"mlpclassifier__lr": [1e-4, 1e-2], "mlpclassifier__hidden": [(4,), (32,)]}, cv=3)
    grid.fit(x, y)
    scores = grid.cv_results_["mean_test_score"]
    best = int(np.argmax(scores))
    assert grid.best_params_ == grid.cv_results_["params"][best] and grid.best_score_ == scores[best]
    assert grid.best_params_["mlpclassifier__lr"] == 1e-2  # 15 epochs at 1e-4 barely move
    assert grid.score(x, y) > 0.9 and list(in_tmp.iterdir()) == []
    assert clone(MLPClassifier(hidden=(3,), config="c.yaml")).get_params()["hidden"] == (3,)


def test_a_diverging_point_is_a_failed_fit_that_grid_search_records(in_tmp):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 2))
    y = 1e4 * x[:, 0]
    with pytest.raises(RuntimeError, match="diverged"):
        MLPRegressor(optimizer="sgd", lr=10.0, epochs=5, preprocess="none").fit(x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitFailedWarning)
        warnings.simplefilter("ignore", UserWarning)
        grid = GridSearchCV(MLPRegressor(optimizer="sgd", epochs=5, hidden=(4,)), {"lr": [10.0, 1e-3]}, cv=2,
                            error_score=np.nan).fit(x, y / 1e4)
    assert np.isnan(grid.cv_results_["mean_test_score"][0]) and grid.best_params_ == {"lr": 1e-3}
