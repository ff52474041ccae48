"""nnlab's MLP as scikit-learn estimators: MLPClassifier and MLPRegressor (docs/sklearn.md).

The parameters are the config's keys, flattened (``hidden=(100, 100)``, ``activation="relu"``, ``lr=1e-3``,
``epochs``, ``batch_size``, ``seed``, ...), and ``config=`` (a YAML file's path or a mapping) for a whole
config: the parameters given override it, those left at None take the config's value, else nnlab's
default, except ``val_fraction``, 0 unless the config says otherwise (an estimator fits on all of X).

``fit(X, y)`` goes the way of every nnlab run: the config is validated (nnlab.config), the arrays are
checked, split and preprocessed as a data set's are (nnlab.data.prepare_dataset: the preprocessor fitted on
the training split), and nnlab's one training loop trains them (nnlab.train.trainer.train).  Nothing is
written unless ``runs_dir`` is given: then fit() writes an ordinary run folder there (nnlab.experiment:
config.yaml, metrics.csv, curves.png, model.npz, ...; ``run_`` reads it back as an nnlab.Run), and the arrays
are kept in the cache (``arrays/<hash>.npz``, named by the run's config), so the folder can be replayed,
compared and predicted with.  fit() has no test set: the run records none (its summary says so).

Bad parameters are ValueError (one line, as nnlab's ConfigError says it); a run that diverges is a
RuntimeError (GridSearchCV records it as a failed fit and goes on).
"""

from __future__ import annotations

import copy
import hashlib
import os
import sys
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from nnlab.api import Run
from nnlab.config import validate
from nnlab.config.loader import deep_merge, load_with_extends
from nnlab.config.schema import plain, set_key
from nnlab.data import RawData, cache_dir, prepare_dataset
from nnlab.errors import ConfigError, DataError
from nnlab.experiment import RunOptions, check_against_data, run_experiment
from nnlab.files import atomic_savez
from nnlab.train.combine import softmax
from nnlab.train.model import build_model
from nnlab.train.threads import blas_threads, limited
from nnlab.train.trainer import train

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data
except ImportError:  # pragma: no cover - older scikit-learn
    validate_data = None

# parameter -> the config key it sets (optimizer replaces the whole train.optimizer before lr is applied)
KEYS = {"hidden": "model.hidden", "activation": "model.activation", "init": "model.init",
        "dropout": "model.dropout", "batch_norm": "model.batch_norm", "optimizer": "train.optimizer",
        "lr": "train.optimizer.lr", "epochs": "train.epochs", "batch_size": "train.batch_size",
        "schedule": "train.schedule", "l2": "train.regularization.l2", "early_stopping": "train.early_stopping",
        "preprocess": "data.preprocess", "val_fraction": "data.val_fraction", "seed": "seed", "dtype": "dtype"}
ARRAYS = "<the arrays given to fit>"  # data.path of a config whose data are fit()'s, kept nowhere


def _check(estimator, X, y="no y", reset: bool = True, **kwargs):
    """sklearn's own input validation (the n_features_in_ and feature_names_in_ bookkeeping included); a y of None
    is sklearn's 'requires y' error."""
    if validate_data is not None:
        if isinstance(y, str) and y == "no y":
            return validate_data(estimator, X, reset=reset, **kwargs)
        return validate_data(estimator, X, y, reset=reset, **kwargs)
    if isinstance(y, str) and y == "no y":  # pragma: no cover - older scikit-learn
        return estimator._validate_data(X, reset=reset, **kwargs)
    return estimator._validate_data(X, y, reset=reset, **kwargs)  # pragma: no cover


class _NnlabMLP(BaseEstimator):
    """The parameters and the fit of both estimators."""

    _task = "classification"

    def __init__(self, hidden=None, activation=None, init=None, dropout=None, batch_norm=None, optimizer=None,
                 lr=None, epochs=None, batch_size=None, schedule=None, l2=None, early_stopping=None,
                 preprocess=None, val_fraction=None, seed=None, dtype=None, config=None, runs_dir=None, name=None,
                 verbose=False):
        self.hidden = hidden
        self.activation = activation
        self.init = init
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.optimizer = optimizer
        self.lr = lr
        self.epochs = epochs
        self.batch_size = batch_size
        self.schedule = schedule
        self.l2 = l2
        self.early_stopping = early_stopping
        self.preprocess = preprocess
        self.val_fraction = val_fraction
        self.seed = seed
        self.dtype = dtype
        self.config = config
        self.runs_dir = runs_dir
        self.name = name
        self.verbose = verbose

    # -------------------------------------------------------------- the config

    def _raw_config(self) -> dict:
        """config= (a file's keys with its extends, or a mapping) under the estimator's default val_fraction 0,
        with every parameter that is not None set on it."""
        if self.config is None:
            base = {}
        elif isinstance(self.config, (str, os.PathLike)):
            base = load_with_extends(Path(self.config))
            base.setdefault("name", Path(self.config).stem)
        elif isinstance(self.config, dict):
            base = plain(self.config)
        else:
            raise ConfigError(f"config: must be the path of a YAML config file or a mapping, got "
                              f"{type(self.config).__name__}")
        raw = deep_merge({"data": {"val_fraction": 0.0}}, base)
        for param, key in KEYS.items():
            value = getattr(self, param)
            if value is None:
                continue
            if param == "optimizer":  # another optimizer: its own options, not the config's one's
                raw.setdefault("train", {})["optimizer"] = plain(value)
                continue
            set_key(raw, key, plain(value), where=f"{param}={value!r}")
        if self.name is not None:
            raw["name"] = self.name
        raw.setdefault("name", type(self).__name__.lower())
        data = raw.get("data") if isinstance(raw.get("data"), dict) else {}
        raw["data"] = {**{k: v for k, v in data.items() if k in ("val_fraction", "preprocess", "augment")},
                       "name": "npz", "path": ARRAYS, "task": self._task}
        return raw

    def _config(self):
        try:
            return validate(self._raw_config(), source=type(self).__name__)
        except ConfigError as exc:
            raise ValueError("\n".join(exc.lines)) from None

    # -------------------------------------------------------------- fit

    def _fit(self, X, y):
        cfg = self._config()
        raw = RawData(X, y, X, y)  # fit() has no test set: the training data stand in, and are never scored
        try:
            dataset = prepare_dataset(raw, cfg.data, cfg.dtype, source="fit(X, y)", seed=0).without_test()
            check_against_data(cfg, dataset)
        except (ConfigError, DataError) as exc:
            raise ValueError("\n".join(exc.lines)) from None
        on_epoch = self._say if self.verbose else None
        if self.runs_dir is None:
            threads = blas_threads(cfg, dataset.n_features, dataset.n_outputs, len(dataset.x_train))
            with limited(threads):
                result = train(cfg, dataset, on_epoch=on_epoch, evaluate_test=False)
            self.run_ = None
        else:
            cfg.data["path"] = str(self._keep(X, y))
            note = ("an estimator's run: fit() has no test set (score it with the estimator's score() on data of "
                    "your own)")
            run_dir, result, summary = run_experiment(
                cfg, self.runs_dir, dataset, on_epoch=on_epoch,
                options=RunOptions(evaluate_test=False, summary={"estimator": type(self).__name__},
                                   test_note=note))
            self.run_ = Run(run_dir)
        if result is None or not result.history:
            raise RuntimeError(f"{cfg.name}: training stopped before its first epoch ended")
        if result.status == "interrupted":
            raise KeyboardInterrupt(f"{cfg.name}: fit() interrupted after {len(result.history)} epochs")
        if result.status == "diverged":
            raise RuntimeError(f"{cfg.name}: diverged: {result.message}")
        self.config_ = cfg.as_dict()
        self.model_ = _network(self.config_, result.model.n_in, result.model.n_out, result.model.state())
        self.preprocessor_ = dataset.preprocessor
        self.loss_curve_ = [row["train_loss"] for row in result.history]
        self.history_ = [dict(row) for row in result.history]
        self.n_iter_ = len(result.history)
        return self

    def _say(self, row) -> None:
        sys.stderr.write(f"epoch {row['epoch']}: loss {row['train_loss']:.4g}"
                         + (f", val loss {row['val_loss']:.4g}" if row.get("val_loss") is not None else "") + "\n")

    def _keep(self, X, y) -> Path:
        """fit()'s arrays in the cache, named by their hash, so that the run folder's config names them."""
        x = np.ascontiguousarray(X, dtype=np.float64)
        t = np.ascontiguousarray(y)
        h = hashlib.blake2b(digest_size=12)
        for a in (x, t):
            h.update(str((a.shape, a.dtype.str)).encode())
            h.update(a.data)
        path = cache_dir() / "arrays" / f"{h.hexdigest()}.npz"
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_savez(path, {"x": x, "y": t, "x_test": x, "y_test": t})
        return path

    # -------------------------------------------------------------- predict

    def _outputs(self, X) -> np.ndarray:
        check_is_fitted(self, "model_")
        X = _check(self, X, reset=False)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            x = self.preprocessor_.transform(X)
        return self.model_.predict(x)

    # -------------------------------------------------------------- pickling: the network as its weights

    def __getstate__(self):
        state = super().__getstate__()
        if "model_" in state:  # the network's buffers are views of one flat array: kept as its weights instead
            state = dict(state)
            state["model_"] = ("nnlab-weights", self.model_.state(), self.model_.n_in, self.model_.n_out)
        if state.get("run_") is not None:
            state["run_"] = ("nnlab-run", str(self.run_.path))
        return state

    def __setstate__(self, state):
        state = dict(state)
        if isinstance(state.get("model_"), tuple):
            _, weights, n_in, n_out = state["model_"]
            state["model_"] = _network(state["config_"], n_in, n_out, weights)
        if isinstance(state.get("run_"), tuple):
            path = Path(state["run_"][1])
            state["run_"] = Run(path) if path.is_dir() else None
        super().__setstate__(state)


def _network(config: dict, n_in: int, n_out: int, weights: dict):
    """The trained network for predictions: the config's MLP with the given weights, in float64, so that a row's
    prediction is the same whatever rows it is predicted with (float32 products differ in the last bits with the
    batch's size); the random streams do not matter, every weight is set."""
    cfg = copy.deepcopy(config)
    rng = np.random.default_rng(0)
    model = build_model(cfg["model"], n_in, n_out, "float64", rng, rng)
    model.load_state({k: np.asarray(v, dtype=np.float64) for k, v in weights.items()})
    return model


class MLPClassifier(ClassifierMixin, _NnlabMLP):
    """nnlab's MLP as a scikit-learn classifier (softmax cross-entropy); see the module doc for the parameters.

    Fitted attributes: classes_, n_features_in_ (feature_names_in_ for a DataFrame), config_ (the resolved
    config), model_, preprocessor_, loss_curve_ and history_ (per epoch), n_iter_ (epochs trained), run_ (an
    nnlab.Run when runs_dir was given, else None).
    """

    _task = "classification"

    def fit(self, X, y):
        X, y = _check(self, X, y, reset=True)
        check_classification_targets(y)
        self.classes_, encoded = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"y has 1 class ({self.classes_[0]!r}); a classifier needs at least 2 classes")
        return self._fit(X, encoded.astype(np.int64))

    def predict_proba(self, X) -> np.ndarray:
        """The probability of each class (columns in the order of classes_): the softmax of the outputs."""
        return softmax(self._outputs(X))

    def predict(self, X) -> np.ndarray:
        best = self.predict_proba(X).argmax(axis=1)
        return self.classes_[best]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = True
        return tags


class MLPRegressor(RegressorMixin, _NnlabMLP):
    """nnlab's MLP as a scikit-learn regressor (mean squared error; y of one or several columns); see the module
    doc for the parameters.  Fitted attributes as MLPClassifier's, without classes_, with n_outputs_."""

    _task = "regression"

    def fit(self, X, y):
        X, y = _check(self, X, y, reset=True, multi_output=True, y_numeric=True)
        y = np.asarray(y, dtype=np.float64)
        self.n_outputs_ = 1 if y.ndim == 1 else y.shape[1]
        self._one_target = y.ndim == 1
        return self._fit(X, y)

    def predict(self, X) -> np.ndarray:
        out = self._outputs(X).astype(np.float64)
        return out[:, 0] if self._one_target else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags

    def _more_tags(self):  # scikit-learn before 1.6
        return {"multioutput": True}
