"""nnlab's MLP as scikit-learn estimators: ``from nnlab.sklearn import MLPClassifier, MLPRegressor``.

scikit-learn is an optional dependency: ``pip install 'nnlab[sklearn]'`` (docs/sklearn.md).
"""

import importlib.util

if importlib.util.find_spec("sklearn") is None:  # the dependency, checked first for a clear message
    raise ImportError("nnlab.sklearn needs scikit-learn: pip install 'nnlab[sklearn]' (or pip install "
                      "'scikit-learn>=1.3')")

from nnlab.sklearn.estimator import MLPClassifier, MLPRegressor  # noqa: E402

__all__ = ["MLPClassifier", "MLPRegressor"]
