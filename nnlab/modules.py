"""Modules that are also functions: ``nnlab.train(config)``, ``nnlab.runs(folder)``, ``nnlab.sweep(file)`` and
``nnlab.claims.run(ids)`` call a function while staying the packages they are.

The API (nnlab.api) stands above every package that is made callable here, so nothing here imports it: a call
without a function of its own goes to the package's front (``nnlab.call_api``, above every layer and always loaded
first), which finds the API's function of the package's last name when the call is made."""

import sys
import types


class CallableModule(types.ModuleType):
    """A module that is also a function: calling it calls its ``__call_target__`` (by default the API's function
    of the module's own last name)."""

    def __call__(self, *args, **kwargs):
        target = self.__dict__.get("__call_target__")
        if target is None:
            return sys.modules["nnlab"].call_api(self.__name__.rsplit(".", 1)[1], *args, **kwargs)
        return target(*args, **kwargs)


def callable_module(name: str, function=None) -> None:
    """Make the module ``name`` callable: calling it calls ``function``, or the Python API's function of the same
    last name (nnlab.api) when none is given."""
    module = sys.modules[name]
    module.__class__ = CallableModule
    module.__call_target__ = function
