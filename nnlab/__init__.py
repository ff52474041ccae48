"""nnlab: a lab for deep-learning training tricks, in pure numpy: the command line, and a Python API.

In a notebook or a script (docs/api.md)::

    import nnlab
    run = nnlab.train("configs/adam_relu.yaml", overrides={"train.optimizer.lr": 0.01})
    run.status, run.summary["test"], run.metrics["val_acc"]
    run.plot()
    nnlab.compare(nnlab.runs("runs"))
    best = nnlab.sweep("sweeps/lr_optimizer.yaml", jobs=2).best_config

The API (nnlab.api) is loaded when one of its names is first used (PEP 562), so that ``import nnlab`` and
``nnlab --help`` load no numpy.  ``nnlab.runs`` and ``nnlab.sweep`` are the packages of run folders and of
sweeps, and callable too: ``nnlab.runs(folder)`` and ``nnlab.sweep(file)`` are the API's functions, as is
``nnlab.train(config)`` (the package of the trainer), and the module ``nnlab.claims.run``
(``nnlab.claims.run(...)``).  This file is the package's front: it reaches
the API by name, above every layer, and imports only nnlab.version (the modules that are also functions are
made so by nnlab.modules).
"""

import importlib

from nnlab.version import __version__  # noqa: F401 (nnlab.__version__)

# name -> the module of the API that defines it
API = {name: "nnlab.api" for name in (
    "resume", "Run", "compare", "Sweep", "RunInterrupted", "dataset")}
API.update({name: "nnlab.errors" for name in ("NnlabError", "ConfigError", "DataError", "RunError")})
CALLABLE = ("train", "runs", "sweep")  # subpackages that are also functions of the API


def call_api(function: str, /, *args, **kwargs):
    """Call the Python API's function named ``function``: what calling the package nnlab.train, nnlab.runs or nnlab.sweep
    does (nnlab.modules)."""
    return getattr(importlib.import_module("nnlab.api"), function)(*args, **kwargs)


def __getattr__(name):
    if name in API:
        return getattr(importlib.import_module(API[name]), name)
    if name in CALLABLE or name == "claims":
        return importlib.import_module(f"nnlab.{name}")
    raise AttributeError(f"module 'nnlab' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(API) | set(CALLABLE) | {"claims"})
