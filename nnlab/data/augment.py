"""Data augmentation of training batches (``data.augment``), a regularizer of notes 002 and 004.

Note 002 (CS231n lecture 7, "Data Augmentation": flips, random crops and scales, colour jitter) and
note 004 (数据增强: random perturbations or transformations of the training data, which add to the
number and variety of training samples and improve generalization) treat augmentation as
regularization: the network sees a slightly different version of every training sample in every
epoch, while validation and test data are used as they are.  For the feature vectors of an MLP,
four transforms, each off unless set (null or 0; ``scale`` [1, 1] draws but changes nothing):

* ``shift: k``      each sample moved by its own s ~ uniform on the integers -k..k:
                    x'[t] = x[t - s], and 0 where t - s falls outside [0, d) (zero-padded, never
                    wrapped).  Only for ordered features (MNIST-1D's signals, not moons' (x, y)).
* ``scale: [a, b]`` each sample multiplied by its own factor u ~ U[a, b] (amplitude scaling).
* ``noise: sigma``  x'_j = x_j + sigma * s_j * e, e ~ N(0, 1) for every entry, where s_j is the
                    standard deviation of feature j over the training split as the network sees it
                    (after ``data.preprocess``; 1 with standardize): sigma is in units of each
                    feature's training std whatever the preprocessing.  A constant feature gets none.
* ``mixup: alpha``  mixup (Zhang et al. 2018): x' = lam x_i + (1 - lam) x_j and the target
                    t' = lam onehot(y_i) + (1 - lam) onehot(y_j), with one lam ~ Beta(alpha, alpha)
                    per sample (the paper's code draws one per batch) and j = pi(i) for a random
                    permutation pi of the batch (j = i is possible: that sample is left unmixed).
                    The soft targets go into the softmax cross-entropy (nnlab.components.losses).
                    Classification only.

They are applied in that order (shift and scale commute exactly; noise is added to the shifted,
scaled sample; mixup mixes the augmented samples), on each training batch just gathered, in the
space the network sees: after preprocessing, where 0 is each feature's training mean under center
or standardize, so a shift pads with the mean and a scale stretches about it.  The training loss
and accuracy of an epoch are those of the augmented batches; under mixup a prediction counts as
correct when it is the class with the largest weight in its mixed target.

The draws (per batch, in this order: shifts, scale factors, noise, mixup's lam then pi) come from
the run's own ``augment`` random stream (nnlab.train.trainer.rng_streams), which exists only when
augmentation is on, so a run without augmentation draws exactly what it drew before, and a run with
it is reproducible and resumes exactly (the stream's state is in every checkpoint).
"""

from __future__ import annotations

import numpy as np

KEYS = ("noise", "shift", "scale", "mixup")


def active(spec: dict | None) -> bool:
    """Whether a resolved ``data.augment`` changes anything (or draws anything) at all."""
    return bool(spec) and any(spec.get(k) for k in KEYS)


def shift_rows(x: np.ndarray, shifts: np.ndarray, out: np.ndarray | None = None,
               padded: np.ndarray | None = None) -> np.ndarray:
    """Row i of x moved right by shifts[i] positions (left if negative), zero-padded, never wrapped.

    out[i, t] = x[i, t - shifts[i]] if 0 <= t - shifts[i] < d, else 0.  Done as one gather from a copy
    of x with k = max|shift| zeros on each side (``padded``, shape (n, d + 2k), may be reused: only its
    middle is written, so its zero margins stay zero).
    """
    n, d = x.shape
    k = int(np.abs(shifts).max()) if n else 0
    if padded is None or padded.shape[1] < d + 2 * k:
        padded = np.zeros((n, d + 2 * k), dtype=x.dtype)
    k = (padded.shape[1] - d) // 2
    padded[:n, k:k + d] = x
    width = padded.shape[1]
    # flat position of out[i, t]'s source in padded: i * width + t + k - shifts[i]
    src = np.arange(d) + (np.arange(n) * width + k - shifts)[:, None]
    if out is None:
        out = np.empty_like(x)
    np.take(padded[:n].reshape(-1), src, out=out)
    return out


def mix(x: np.ndarray, y: np.ndarray, lam: np.ndarray, perm: np.ndarray, n_classes: int,
        out: np.ndarray | None = None, targets: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mixup of a batch: (lam x + (1 - lam) x[perm], lam onehot(y) + (1 - lam) onehot(y[perm])).

    x (n, d), y (n,) integer labels, lam (n,) in [0, 1] in x's dtype, perm a permutation of range(n).
    ``out`` may be x itself (mixed in place).  Returns the mixed inputs and the (n, n_classes) soft
    targets, each row summing to 1 (up to rounding).
    """
    n = len(x)
    other = x[perm]  # read before out (possibly x) is overwritten
    other *= (1 - lam)[:, None]
    out = np.multiply(x, lam[:, None], out=out)
    out += other
    if targets is None:
        targets = np.empty((n, n_classes), dtype=x.dtype)
    targets.fill(0)
    rows = np.arange(n)
    targets[rows, y] = lam
    targets[rows, y[perm]] += 1 - lam  # the same class twice: lam + (1 - lam)
    return out, targets


class Augmenter:
    """``xb, yb = augmenter(xb, yb)``: a training batch, augmented as configured (see the module doc).

    The batch passed in is never modified (it may be a view of the training set); the result lives
    in buffers the augmenter owns, valid until its next call.
    """

    def __init__(self, spec: dict, x_train: np.ndarray, n_classes: int | None, rng: np.random.Generator):
        self.rng, self.n_classes = rng, n_classes
        self.k = int(spec.get("shift") or 0)
        self.scale = tuple(spec["scale"]) if spec.get("scale") else None
        self.alpha = float(spec.get("mixup") or 0.0)
        sigma = float(spec.get("noise") or 0.0)
        dtype = x_train.dtype
        # one pass over the training split (float64 sums), once per run
        self.noise_std = (sigma * x_train.std(axis=0, dtype=np.float64)).astype(dtype) if sigma else None
        self._bufs: dict[tuple, np.ndarray] = {}

    @classmethod
    def build(cls, spec: dict | None, dataset, rng: np.random.Generator | None) -> "Augmenter | None":
        """The augmenter of a run, or None when ``data.augment`` is off."""
        if not active(spec):
            return None
        return cls(spec, dataset.x_train, dataset.n_classes, rng)

    def _buf(self, name: str, shape: tuple, dtype, zeros: bool = False) -> np.ndarray:
        key = (name, shape, np.dtype(dtype).str)
        b = self._bufs.get(key)
        if b is None:
            b = self._bufs[key] = (np.zeros if zeros else np.empty)(shape, dtype=dtype)
        return b

    def __call__(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n, d = x.shape
        rng, dtype = self.rng, x.dtype
        out = self._buf("x", x.shape, dtype)
        src = x
        if self.k:
            shifts = rng.integers(-self.k, self.k + 1, size=n)
            shift_rows(src, shifts, out, self._buf("pad", (n, d + 2 * self.k), dtype, zeros=True))
            src = out
        if self.scale is not None:
            u = rng.uniform(self.scale[0], self.scale[1], size=n).astype(dtype)
            np.multiply(src, u[:, None], out=out)
            src = out
        if self.noise_std is not None:
            e = rng.standard_normal(dtype=dtype, out=self._buf("noise", x.shape, dtype))
            e *= self.noise_std
            np.add(src, e, out=out)
            src = out
        if self.alpha:
            lam = rng.beta(self.alpha, self.alpha, size=n).astype(dtype)
            perm = rng.permutation(n)
            return mix(src, y, lam, perm, self.n_classes, out, self._buf("t", (n, self.n_classes), dtype))
        return out, y


# -- validation: the config alone (nnlab.config.schema), then against the data (nnlab.experiment) ----------

def check_spec(spec: dict, preprocess: str | None) -> list[str]:
    """Rules across data.augment's options and data.preprocess, one line each (without the source)."""
    errors = []
    scale = spec.get("scale")
    if scale is not None and (len(scale) != 2 or not scale[0] <= scale[1]):
        errors.append(f"data.augment.scale: must be [low, high] with 0 < low <= high (each sample is multiplied "
                      f"by a factor uniform in [low, high]), got {scale}")
    if spec.get("shift") and preprocess == "pca_whiten":
        errors.append("data.augment.shift: shifts move ordered features (positions of a signal), but "
                      "data.preprocess pca_whiten turns them into principal components, which have no order; "
                      "use zca_whiten, standardize, center or none, or drop the shift")
    return errors


def check_against_data(spec: dict | None, dataset, source: str) -> list[str]:
    """What only the data can tell: mixup needs classes, a shift must leave something of the signal."""
    if not active(spec):
        return []
    errors = []
    if spec.get("mixup") and dataset.task != "classification":
        errors.append(f"{source}: data.augment.mixup: mixup mixes one-hot class targets, but {dataset.name} has "
                      f"float targets (regression); remove data.augment.mixup (noise, shift and scale work "
                      f"for regression)")
    k, d = int(spec.get("shift") or 0), dataset.n_features
    if k >= d:
        errors.append(f"{source}: data.augment.shift: must be less than the number of features of "
                      f"{dataset.name} ({d}), got {k}")
    return errors


def data_spec(data_cfg: dict) -> dict:
    """A ``data:`` mapping without ``augment``: what identifies the arrays to load (augment does not change them)."""
    return {k: v for k, v in data_cfg.items() if k != "augment"}
