"""Input preprocessing (``data.preprocess``): fitted on the training split only, applied to every split."""

from __future__ import annotations

import numpy as np

from nnlab.errors import DataError
from nnlab.options import Positive, PositiveInt, Registry


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


class ChannelCenter(_Preprocessor):
    """Subtract each channel's training mean (CS231n's per-channel mean; images stored pixel by pixel).

    Rows hold pixels of ``channels`` values each (height, width, channel order, as cifar10's):
    x'[:, k] = x[:, k] - mean_c, with mean_c the training mean over every pixel of channel c = k mod channels.
    Source: CS231n notes "Neural Networks Part 2: data preprocessing" (subtracting the mean per channel).
    """

    def __init__(self, *, channels: PositiveInt = 3):
        self.channels = channels
        self.mean = None

    def _pixels(self, x):
        if x.shape[1] % self.channels:
            raise DataError(f"data.preprocess: {type(self).__name__}: {x.shape[1]} features are not whole pixels of "
                            f"{self.channels} channels; set channels to a divisor of {x.shape[1]} (3 for colour "
                            "images stored pixel by pixel)")
        return x.reshape(len(x), -1, self.channels)

    def _fit(self, x):
        self.mean = self._pixels(x).mean(axis=(0, 1))

    def _transform(self, x):
        return (self._pixels(x) - self.mean).reshape(x.shape)


class ChannelStandardize(ChannelCenter):
    """Each channel to zero mean and unit variance, from its training statistics over all its pixels.

    x'[:, k] = (x[:, k] - mean_c) / std_c for c = k mod channels (pixels stored channel by channel within
    each pixel, as cifar10's); a constant channel is only centered.  torchvision's Normalize(mean, std)
    with the training set's per-channel statistics.
    """

    def __init__(self, *, channels: PositiveInt = 3):
        super().__init__(channels=channels)
        self.std = None

    def _fit(self, x):
        px = self._pixels(x)
        self.mean = px.mean(axis=(0, 1))
        std = px.std(axis=(0, 1))
        self.std = np.where(std > 1e-12 * (1.0 + np.abs(self.mean)), std, 1.0)

    def _transform(self, x):
        return ((self._pixels(x) - self.mean) / self.std).reshape(x.shape)


# The registry, filled explicitly: adding a preprocessor is its class above plus one line here.
preprocessors = Registry("preprocessor", {
    "none": NoPreprocessing,
    "center": Center,
    "standardize": Standardize,
    "pca_whiten": PCAWhiten,
    "zca_whiten": ZCAWhiten,
    "channel_center": ChannelCenter,
    "channel_standardize": ChannelStandardize,
})
