"""The probes' inputs: checks (shapes, NaN, labels) before anything is fitted, the tensors the
torch probes compute on, and standardisation with training statistics."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

ROW_BLOCK = 4096  # rows per block of the row-wise passes (bounds the float64 temporaries)
MIN_EARLY_STOPPING = 50  # fewer training codes: the MLP probes train without a held-out split (torch: both
# tasks; scikit-learn: the regressor)


def as_numpy(t) -> np.ndarray:
    """A tensor (any device) or array-like as a numpy array."""
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


def to_tensor(x, device) -> torch.Tensor:
    """``x`` as a tensor on ``device``: float32, or float64 if given so (no copy if it already is)."""
    t = x.detach() if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    if t.dtype not in (torch.float32, torch.float64):
        t = t.to(torch.float32)
    return t.to(device)


@dataclass
class Inputs:
    """Checked inputs: features as given (tensor or array), labels as numpy."""

    train_x: object
    test_x: object
    train_y: np.ndarray
    test_y: np.ndarray | None
    device: torch.device
    classification: bool

    @property
    def n_train(self) -> int:
        return len(self.train_y)

    @property
    def train_x_np(self) -> np.ndarray:
        return as_numpy(self.train_x)

    @property
    def test_x_np(self) -> np.ndarray:
        return as_numpy(self.test_x)

    @classmethod
    def build(cls, train_x, train_y, test_x, test_y, *, classification: bool) -> "Inputs":
        """Check the inputs of one probe call (``test_y`` may be None); raises ValueError
        naming the bad value before anything is fitted: arrays of the wrong rank, empty train
        or test sets, mismatched lengths or feature widths, NaN or infinite values, fewer than
        two training classes, test labels never seen in training, non-integer class labels
        (such as 0.5), non-numeric or non-finite regression targets."""
        arrays = {"train_x": train_x, "test_x": test_x}
        for what, x in arrays.items():
            arrays[what] = _check_features(what, x)
        shapes = {what: tuple(x.shape) for what, x in arrays.items()}
        labels = {"train_y": as_numpy(train_y)}
        if test_y is not None:
            labels["test_y"] = as_numpy(test_y)
        for what, y in labels.items():
            if y.ndim != 1:
                raise ValueError(
                    f"{what} must be a 1-D array [N] of "
                    f"{'labels' if classification else 'targets'}, got shape {y.shape}"
                )
        _check_shapes(shapes, {what: len(y) for what, y in labels.items()})
        for what, x in arrays.items():
            finite = torch.isfinite(x) if isinstance(x, torch.Tensor) else np.isfinite(x)
            if not bool(finite.all()):
                bad = int((~finite).sum())
                raise ValueError(
                    f"{what} holds {bad} NaN or infinite values; the embeddings are broken "
                    f"(a diverged model?) and cannot be probed"
                )
        if classification:
            _check_labels(labels)
        else:
            _check_targets(labels)
        device = train_x.device if isinstance(train_x, torch.Tensor) else torch.device("cpu")
        return cls(arrays["train_x"], arrays["test_x"], labels["train_y"], labels.get("test_y"), device, classification)


def _check_features(what: str, x):
    if not isinstance(x, torch.Tensor):
        x = np.asarray(x)
        if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
            raise ValueError(f"{what} must hold numbers, got dtype {x.dtype}")
    elif x.is_complex():
        raise ValueError(f"{what} must hold real numbers, got dtype {x.dtype}")
    if x.ndim != 2:
        raise ValueError(f"{what} must be a 2-D array [N, D] of embeddings, got shape {tuple(x.shape)}")
    return x


def _check_shapes(shapes: dict, lengths: dict) -> None:
    if shapes["train_x"][0] == 0:
        raise ValueError("the training set is empty (train_x has 0 rows)")
    if shapes["test_x"][0] == 0:
        raise ValueError("the test set is empty (test_x has 0 rows)")
    for split in ("train", "test"):
        if f"{split}_y" in lengths and lengths[f"{split}_y"] != shapes[f"{split}_x"][0]:
            raise ValueError(
                f"mismatched lengths: {split}_x has {shapes[f'{split}_x'][0]} rows but {split}_y "
                f"has {lengths[f'{split}_y']} entries"
            )
    if shapes["train_x"][1] != shapes["test_x"][1]:
        raise ValueError(
            f"train_x has {shapes['train_x'][1]} features per row but test_x has "
            f"{shapes['test_x'][1]}; embed both splits the same way"
        )
    if shapes["train_x"][1] == 0:
        raise ValueError(f"the embeddings have 0 features (train_x has shape {shapes['train_x']})")


def _check_labels(labels: dict) -> None:
    """Class labels: integers, strings or integral floats (as scikit-learn accepts), at
    least two training classes, every test label among them."""
    for what, y in labels.items():
        if y.dtype.kind in "fc":
            frac = y[y != np.round(y.real)] if y.dtype.kind == "f" else y[y.imag != 0]
            if len(frac):
                raise ValueError(
                    f"{what} holds {len(frac)} non-integer class labels such as {frac[0].item()!r}; class "
                    f"labels must be integers (or strings, or floats with integer values); for real "
                    f"targets use regression_scores"
                )
    classes = np.unique(labels["train_y"])
    if len(classes) < 2:
        raise ValueError(f"train_y holds fewer than two classes ({classes.tolist()}); a classifier needs at least two")
    if "test_y" in labels:
        unseen = np.setdiff1d(np.unique(labels["test_y"]), classes)
        if len(unseen):
            raise ValueError(
                f"test labels {unseen.tolist()} never occur in train_y; no probe can "
                f"predict them (fit on a training set that holds every class)"
            )


def _check_targets(labels: dict) -> None:
    for what, y in labels.items():
        if not np.issubdtype(y.dtype, np.number) or y.dtype == bool:
            raise ValueError(f"{what} must hold real targets, got dtype {y.dtype}")
        bad = int((~np.isfinite(y)).sum())
        if bad:
            raise ValueError(f"{what} holds {bad} NaN or infinite targets")


class TorchData:
    """The inputs as tensors on ``device``: features float32 (or float64 if given so),
    class codes 0..K-1 of the sorted unique labels (classification) or float64 targets
    (regression)."""

    def __init__(self, data: Inputs, device: torch.device):
        self.device = device
        self.train_x = to_tensor(data.train_x, device)
        self.test_x = to_tensor(data.test_x, device)
        self.classification = data.classification
        if self.classification:
            self.classes, codes = np.unique(data.train_y, return_inverse=True)
            self.train_codes = torch.as_tensor(codes.reshape(-1), dtype=torch.long, device=device)
            self.n_classes = len(self.classes)
        else:
            self.train_t = torch.as_tensor(data.train_y.astype(np.float64), device=device)
        self._standardised = {}

    def standardised(self, dtype=None):
        """(train, test) standardised with the training statistics (see :func:`standardise`),
        in ``dtype`` (None: the embeddings' dtype); computed once per dtype and shared by the
        probes of one call."""
        dtype = dtype or self.train_x.dtype
        if dtype not in self._standardised:
            (train, test), self.stats = standardise(self.train_x, self.test_x, dtype=dtype)
            self._standardised[dtype] = (train, test)
        return self._standardised[dtype]

    def features_vary(self) -> bool:
        """Whether any feature takes two values over the training codes (False for the
        codes of a collapsed model: then no probe can tell two training codes apart)."""
        return bool((self.train_x != self.train_x[:1]).any())

    def chance(self) -> torch.Tensor:
        """What a fit that cannot tell the training codes apart converges to, for every test
        row [M]: the most frequent training class code (a tie: the lowest), or the training
        mean target (float64)."""
        m = len(self.test_x)
        if self.classification:
            majority = torch.bincount(self.train_codes, minlength=self.n_classes).argmax()
            return majority.expand(m).clone()
        return self.train_t.mean().expand(m).clone()

    def decode(self, pred: torch.Tensor) -> np.ndarray:
        """Class codes -> labels, or float64 predictions, as numpy."""
        pred = pred.detach().cpu().numpy()
        return self.classes[pred] if self.classification else pred.astype(np.float64)


def standardise(train: torch.Tensor, *others: torch.Tensor, dtype=None):
    """(x - mean) / std with the training mean and population std, both in float64 (a
    zero std counts as 1, as scikit-learn's StandardScaler); each tensor is standardised in
    float64 and stored in ``dtype`` (None: its own dtype), in blocks of rows, without a
    float64 copy of the whole matrix. Returns ([train, *others], (mean [D], scale [D]))."""
    step = ROW_BLOCK
    n = len(train)
    mean = train.sum(0, dtype=torch.float64) / n
    # one float64 block reused by every pass: fresh temporaries per block cost page faults
    buf = torch.empty(
        min(step, max(len(x) for x in (train, *others))), train.shape[1], dtype=torch.float64, device=train.device
    )
    var = 0
    for i in range(0, n, step):
        rows = train[i : i + step]
        var = var + buf[: len(rows)].copy_(rows).sub_(mean).pow_(2).sum(0)
    scale = (var / n).sqrt()
    scale = torch.where(scale == 0, torch.ones_like(scale), scale)
    out = []
    for x in (train, *others):
        y = torch.empty(x.shape, dtype=dtype or x.dtype, device=x.device)
        for i in range(0, len(x), step):
            rows = x[i : i + step]
            y[i : i + step] = buf[: len(rows)].copy_(rows).sub_(mean).div_(scale)
        out.append(y)
    return out, (mean, scale)


def standardise_targets(t: torch.Tensor):
    """(targets [N] standardised with their mean and population std, (mean, scale))."""
    (y,), (mean, scale) = standardise(t[:, None])
    return y[:, 0], (mean[0], scale[0])
