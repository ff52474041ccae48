"""Input preprocessing (``data.preprocess``): fitted on the training split only, applied to every split."""

from __future__ import annotations

import numpy as np

from nnlab.options import Positive, Registry


class _Preprocessor:
    """Shared plumbing: statistics are float64 and come only from what ``fit`` saw."""

    fitted = False

    def fit(self, x) -> _Preprocessor:
        self._fit(np.asarray(x, dtype=np.float64))
        self.fitted = True
        return self

    def transform(self, x) -> np.ndarray:
        if not self.fitted:
            raise RuntimeError(f"{type(self).__name__}.transform called before fit")
        return self._transform(np.asarray(x, dtype=np.float64))

    def _fit(self, x: np.ndarray) -> None:
        pass

    def _transform(self, x: np.ndarray) -> np.ndarray:
        return x.copy()


class NoPreprocessing(_Preprocessor):
    """Inputs used as stored.

    x' = x.
    """

    def __init__(self):
        pass


class Center(_Preprocessor):
    """Subtract the per-feature training mean.

    x' = x - mean_train(x).
    """

    def __init__(self):
        self.mean = None

    def _fit(self, x):
        self.mean = x.mean(axis=0)

    def _transform(self, x):
        return x - self.mean


class Standardize(_Preprocessor):
    """Per-feature zero mean and unit variance, from training statistics.

    x' = (x - mean_train) / std_train; a constant feature (std ~ 0) is only centered.
    """

    def __init__(self):
        self.mean = self.std = None

    def _fit(self, x):
        self.mean = x.mean(axis=0)
        std = x.std(axis=0)
        # a constant column's std is 0, or round-off like 1e-17: dividing would blow up noise
        self.std = np.where(std > 1e-12 * (1.0 + np.abs(self.mean)), std, 1.0)

    def _transform(self, x):
        return (x - self.mean) / self.std


class PCAWhiten(_Preprocessor):
    """PCA whitening: decorrelate and scale every principal direction to unit variance.

    Cov = Xc^T Xc / n = U diag(S) U^T (training data, centered); x' = (x - mean) U / sqrt(S + eps).
    Source: CS231n notes "Neural Networks Part 2: data preprocessing"; CS224n/UFLDL whitening.
    """

    def __init__(self, *, eps: Positive = 1e-5):
        self.eps = eps
        self.mean = self.U = self.S = None

    def _fit(self, x):
        self.mean = x.mean(axis=0)
        xc = x - self.mean
        S, U = np.linalg.eigh(xc.T @ xc / len(x))
        order = np.argsort(S)[::-1]  # largest variance first, like an SVD
        self.S = np.clip(S[order], 0.0, None)  # eigh gives tiny negatives for singular covariances
        self.U = U[:, order]

    def _transform(self, x):
        return (x - self.mean) @ self.U / np.sqrt(self.S + self.eps)


class ZCAWhiten(PCAWhiten):
    """ZCA whitening: PCA whitening rotated back, so features stay aligned with the originals.

    x' = (x - mean) U diag(1 / sqrt(S + eps)) U^T, with Cov = U diag(S) U^T from the training data.
    Source: CS231n notes; Bell & Sejnowski (1997) "The independent components of natural scenes".
    """

    def __init__(self, *, eps: Positive = 1e-5):
        super().__init__(eps=eps)

    def _transform(self, x):
        return super()._transform(x) @ self.U.T


# The registry, filled explicitly: adding a preprocessor is its class above plus one line here.
preprocessors = Registry("preprocessor", {
    "none": NoPreprocessing,
    "center": Center,
    "standardize": Standardize,
    "pca_whiten": PCAWhiten,
    "zca_whiten": ZCAWhiten,
})
