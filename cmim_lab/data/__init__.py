"""Datasets by name, as in-memory tensors with a record of where they came from.

:func:`load` loads any registered dataset (:mod:`cmim_lab.registry`): the image datasets
of :mod:`cmim_lab.data.sources` registered here, and those a domain plugin adds.

>>> ds = load("fashion-mnist", n_train=10_000, seed=0)
>>> ds.x_train.shape, ds.x_train.dtype          # [N, 1, 28, 28], float32 in [0, 1]
>>> ds.describe()

Your own data: :func:`from_arrays` takes images (uint8, or floats in [0, 1]) and real-valued
features of any range; the latter keep their values and carry a per-feature
standardisation fitted on the training split (:attr:`Dataset.feature_mean`,
:attr:`Dataset.feature_std`), which every model of them applies, stores and undoes for
reconstructions (train them with a Gaussian likelihood, :mod:`cmim_lab.likelihoods`).
MedMNIST: :func:`load_medmnist` (or ``load("pathmnist")``, ``load("pathmnist-64")``).

Every source is converted once into a compact uint8 cache file
(``<cache>/data/<name>.safetensors``), so a second load takes a fraction of a second.
Subsets and splits are deterministic and stratified. :func:`fingerprint` hashes what a
dataset holds (inputs and labels of both splits); the model and evaluation caches are keyed
by it, so they never answer for other data.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import numbers
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

from .. import registry
from ..errors import DataUnavailableError, check_choice
from ..infra.digest import arrays_digest
from ..infra.files import atomic_write_bytes, check_regular, locked, remove_temporaries
from ..infra.paths import cache_dir
from . import medmnist as medmnist_source
from .sources import SOURCE_DEFAULTS, SOURCES, RawData

CACHE_FORMAT = "1"
TEST_FRACTION = 0.2  # for sources without a test split
MAX_SEED = 2**32 - 1  # numpy's and scikit-learn's seeds are 32-bit (as cmim_lab.config.MAX_SEED)


@dataclass
class Dataset:
    """Train and test tensors plus provenance.

    Attributes:
        x_train, x_test: float32, [N, C, H, W] for images or [N, D] for vectors: intensities
            in [0, 1], or real-valued features as given (then ``feature_mean`` is set).
        y_train, y_test: int64 [N], class indices into ``classes``.
        info: name, source, sample counts (used and available), seeds, split rule, and for
            real-valued features how they are standardised.
        x_val, y_val: a validation split the source ships (MedMNIST), else None. Training
            and :func:`cmim_lab.evaluation.evaluate` never touch it: it is there to choose
            probe settings without looking at the test split.
        feature_mean, feature_std: float32 [*input_shape], the per-feature standardisation
            of real-valued features (mean and std of the training split; a constant
            feature gets std 1), or None for intensities. A model applies it to every input
            (train and test alike), stores it in its checkpoint (``model_context``) and
            undoes it for reconstructions.
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: list[str]
    info: dict = field(default_factory=dict)
    x_val: torch.Tensor | None = None
    y_val: torch.Tensor | None = None
    feature_mean: torch.Tensor | None = None
    feature_std: torch.Tensor | None = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one sample, e.g. (1, 28, 28) or (D,)."""
        return tuple(self.x_train.shape[1:])

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def real_valued(self) -> bool:
        """True for real-valued features (standardised by the model), False for intensities."""
        return self.feature_mean is not None

    @property
    def content_fields(self) -> tuple[str, ...]:
        """The fields :func:`fingerprint` hashes: both splits, plus the validation split and
        the standardisation where there are any (so datasets without them hash as before)."""
        return (
            CONTENT_FIELDS
            + (("x_val", "y_val") if self.x_val is not None else ())
            + (("feature_mean", "feature_std") if self.real_valued else ())
        )

    @property
    def model_context(self) -> dict:
        """Data-specific settings a model needs beyond its config: for real-valued features
        ``{"standardise": {"mean": [...], "std": [...]}}`` (flat lists, one value per
        feature), else none."""
        if not self.real_valued:
            return {}
        return {
            "standardise": {
                "mean": self.feature_mean.reshape(-1).tolist(),
                "std": self.feature_std.reshape(-1).tolist(),
            }
        }

    def standardised(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` [N, *input_shape] in standardised units (training split's mean 0, std 1 per
        feature); unchanged for intensities."""
        return x if not self.real_valued else (x - self.feature_mean.to(x.device)) / self.feature_std.to(x.device)

    def original_units(self, x: torch.Tensor) -> torch.Tensor:
        """The inverse of :meth:`standardised`."""
        return x if not self.real_valued else x * self.feature_std.to(x.device) + self.feature_mean.to(x.device)

    def to(self, device) -> "Dataset":
        """A copy with all tensors on ``device`` (the training data lives there, no loader)."""
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        return Dataset(
            self.name,
            move(self.x_train),
            move(self.y_train),
            move(self.x_test),
            move(self.y_test),
            list(self.classes),
            dict(self.info),
            move(self.x_val),
            move(self.y_val),
            move(self.feature_mean),
            move(self.feature_std),
        )

    def describe(self) -> str:
        i = self.info
        val = f" / {len(self.y_val)} validation" if self.y_val is not None else ""
        values = ", real-valued (standardised per feature by the model)" if self.real_valued else ""
        return (
            f"{self.name}: {i['n_train']} train / {i['n_test']} test{val} samples "
            f"(of {i['n_train_available']} / {i['n_test_available']}), shape {self.input_shape}{values}, "
            f"{self.n_classes} classes, from {i['source']}"
        )


def available(role: str | None = "classification") -> dict[str, str]:
    """Registered dataset names (of one ``role``; None: all) and a one-line description of each."""
    return {name: spec.description for name, spec in registry.datasets(role=role).items()}


def check_seed(name: str, value) -> int:
    """``value`` as an int when it is a valid seed (an integer from 0 to :data:`MAX_SEED`),
    else ``ValueError`` naming ``name``, the value and what is valid."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 0 <= value <= MAX_SEED:
        raise ValueError(
            f"{name} must be an integer from 0 to {MAX_SEED} (numpy's and scikit-learn's seeds are "
            f"32-bit), got {value!r}"
        )
    return int(value)


def load(name: str, n_train: int | None = None, seed: int = 0, **kwargs):
    """Load any registered dataset by name (see :func:`available` and
    :mod:`cmim_lab.registry`): an image dataset as in :func:`load_images`, or what a plugin
    registered under ``name``. ``ValueError`` lists the valid names, or names a ``seed`` or
    ``split_seed`` outside 0..2**32-1."""
    check_seed("seed", seed)
    if "split_seed" in kwargs:
        check_seed("split_seed", kwargs["split_seed"])
    return registry.dataset(name).load(n_train=n_train, seed=seed, **kwargs)


def load_images(
    name: str,
    n_train: int | None = None,
    seed: int = 0,
    *,
    n_test: int | None = None,
    split_seed: int = 0,
    refresh: bool = False,
) -> Dataset:
    """Load an image dataset of :mod:`cmim_lab.data.sources` as float tensors in [0, 1].

    Args:
        name: one of :func:`available` (``fashion-mnist``, ``mnist-5k``, ``digits``, ...).
        n_train: use a stratified subset of this many training samples (None: all).
        seed: seed of the ``n_train``/``n_test`` subsets.
        n_test: stratified subset of the test split (None: all).
        split_seed: seed of the train/test split for sources that ship none (kept fixed so
            test sets are comparable across runs).
        refresh: rebuild the cache file from the source.

    Raises:
        ValueError: unknown name or bad sizes (the message lists valid values).
        DataUnavailableError: no local copy and no download possible (names what provides it).
    """
    check_choice("dataset", name, SOURCES)
    seed, split_seed = check_seed("seed", seed), check_seed("split_seed", split_seed)
    raw = _cached_raw(name, split_seed, refresh)
    return _finish(name, raw, n_train, n_test, seed, split_seed)


def from_arrays(
    x_train,
    y_train,
    x_test=None,
    y_test=None,
    *,
    name: str = "custom",
    classes: list[str] | None = None,
    n_train: int | None = None,
    seed: int = 0,
    split_seed: int = 0,
    standardise: bool | None = None,
) -> Dataset:
    """Wrap the user's own arrays, validated, in a :class:`Dataset`.

    ``x``: [N, D] vectors, [N, H, W] or [N, C, H, W] images, finite numbers. Two kinds:

    * intensities -- uint8 (0..255, scaled by 1/255) or floats in [0, 1]: kept in [0, 1]
      (train them with the default ``bernoulli`` likelihood). Images ([N, H, W] or
      [N, C, H, W]) of another integer dtype (int64, uint16 ...) whose values lie in 0..255
      are read as 8-bit intensities too; integer images with other values are refused
      (``ValueError`` naming the dtype, the range and how to convert them) unless
      ``standardise=True``;
    * real-valued features of any range (standardised measurements, embeddings of another
      model ...): kept as they are, with a per-feature standardisation fitted on the
      training samples used (after ``n_train``) and recorded on the dataset
      (:attr:`Dataset.feature_mean`, :attr:`Dataset.feature_std`). Models apply it to
      train and test inputs, store it in their checkpoint and undo it for
      reconstructions; train them with ``likelihood="gaussian-fixed"`` or
      ``"gaussian-learned"`` (a Bernoulli likelihood is refused for them).

    ``standardise``: None (default) picks real-valued when any value of ``x_train`` or
    ``x_test`` lies outside [0, 1] (uint8 arrays always count as intensities); True forces
    it; False refuses values outside [0, 1]. ``y``: integer labels [N] >= 0, at least two
    classes in training, no test label that training lacks. Without ``x_test`` a stratified
    80/20 split is made with ``split_seed`` (every class needs at least 2 samples, and as
    many samples as classes on each side: ``ValueError`` naming the class otherwise).
    ``seed``, ``split_seed``: integers from 0 to 2**32-1. ``name`` must not be a registered dataset's
    (``ValueError``): caches are keyed by name and content, and a built-in name would mix
    the two.
    """
    if name in registry.datasets():
        raise ValueError(
            f"name {name!r} belongs to a built-in dataset; give your arrays a name of their own "
            f"(e.g. name='my-{name}'), so they never share its cache entries"
        )
    if standardise not in (None, True, False):
        raise ValueError(f"standardise must be None (decide from the values), True or False, got {standardise!r}")
    if (x_test is None) != (y_test is None):
        raise ValueError("pass both x_test and y_test, or neither (a stratified split is then made)")
    seed, split_seed = check_seed("seed", seed), check_seed("split_seed", split_seed)
    arrays = {"x_train": _as_numeric(x_train, "x_train")}
    if x_test is not None:
        arrays["x_test"] = _as_numeric(x_test, "x_test")
    if standardise is not True:
        arrays = {k: _integer_images(a, k) for k, a in arrays.items()}
    if standardise is None:
        standardise = any(a.dtype != np.uint8 and (a.min() < 0 or a.max() > 1) for a in arrays.values())
    x_train, max_train = _validate_x(arrays["x_train"], "x_train", standardise)
    y_train = _validate_y(y_train, len(x_train), "y_train")
    if x_test is not None:
        x_test, _ = _validate_x(arrays["x_test"], "x_test", standardise)
        y_test = _validate_y(y_test, len(x_test), "y_test")
        if x_test.shape[1:] != x_train.shape[1:]:
            raise ValueError(f"x_test samples have shape {x_test.shape[1:]}, x_train samples {x_train.shape[1:]}")
    check_labels(y_train, y_test)
    n_cls = int(max(y_train.max(), -1 if y_test is None else y_test.max())) + 1
    classes = classes or [str(c) for c in range(n_cls)]
    if len(classes) < n_cls:
        raise ValueError(f"{len(classes)} class names given but labels go up to {n_cls - 1}")
    fingerprint = hashlib.sha1(np.ascontiguousarray(x_train).tobytes()).hexdigest()[:12]
    raw = RawData(
        x_train, y_train, x_test, y_test, list(classes), source=f"user arrays (sha1 {fingerprint})", max_value=max_train
    )
    if raw.x_test is None:
        raw = _split(raw, split_seed)
    ds = _finish(name, raw, n_train, None, seed, split_seed)
    return with_standardisation(ds) if standardise else ds


def with_standardisation(ds: Dataset) -> Dataset:
    """``ds`` marked as real-valued: per-feature mean and std (population std, as
    scikit-learn's ``StandardScaler``; 1 for a constant feature) of ``ds.x_train``, computed
    in float64 and stored as float32 [*input_shape]; ``info`` says so. The tensors keep
    their values."""
    x = ds.x_train.double()
    mean, std = x.mean(0), x.std(0, correction=0)
    std = torch.where(std > 1e-12 * mean.abs().clamp(min=1.0), std, torch.ones_like(std))
    info = {
        **ds.info,
        "values": "real-valued features",
        "standardise": f"per feature: mean and std of the {len(x)} training samples, applied by the model to "
        f"train and test inputs, stored in its checkpoint, undone for reconstructions",
    }
    return Dataset(
        ds.name,
        ds.x_train,
        ds.y_train,
        ds.x_test,
        ds.y_test,
        list(ds.classes),
        info,
        ds.x_val,
        ds.y_val,
        mean.float(),
        std.float(),
    )


def _as_numeric(x, what: str) -> np.ndarray:
    """``x`` as a numpy array of 2 to 4 dims of finite numbers; ``ValueError`` otherwise."""
    x = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if x.dtype.kind not in "uif":
        raise ValueError(f"{what} must be numeric, got dtype {x.dtype}")
    if x.ndim not in (2, 3, 4):
        raise ValueError(f"{what} must be [N, D], [N, H, W] or [N, C, H, W], got shape {x.shape}")
    if len(x) == 0:
        raise ValueError(f"{what} is empty")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise ValueError(f"{what} contains NaN or inf values")
    return x


def _integer_images(x: np.ndarray, what: str) -> np.ndarray:
    """Images ([N, H, W] or [N, C, H, W]) of an integer dtype other than uint8: as uint8
    when every value lies in 0..255 (8-bit intensities); ``ValueError`` naming the dtype,
    the range and the conversions otherwise. Anything else is returned unchanged."""
    if x.dtype.kind not in "iu" or x.dtype == np.uint8 or x.ndim not in (3, 4):
        return x
    low, high = int(x.min()), int(x.max())
    if 0 <= low and high <= 255:
        return x.astype(np.uint8)
    raise ValueError(
        f"{what} holds integer images of dtype {x.dtype} with values {low}..{high}; integer images are "
        f"read as 8-bit intensities (0..255). Convert them to intensities in [0, 1] (e.g. "
        f"{what}.astype(np.float32) / {max(high, 1)}), or pass standardise=True to keep them as "
        f"real-valued features (standardised per feature; train with likelihood='gaussian-fixed' "
        f"or 'gaussian-learned')"
    )


def _validate_x(x: np.ndarray, what: str, real_valued: bool) -> tuple[np.ndarray, float]:
    """(array, the value that maps to 1): uint8 intensities stay uint8 (255), everything
    else becomes float32 (1). ``ValueError`` for values float32 cannot hold, or values outside
    [0, 1] when not ``real_valued``."""
    if x.dtype == np.uint8 and not real_valued:
        return x, 255.0
    with np.errstate(over="ignore"):  # an overflow becomes inf, refused just below
        x32 = x.astype(np.float32)
    if not np.isfinite(x32).all():
        raise ValueError(
            f"{what} holds values beyond float32's range (largest magnitude {np.abs(x).max():.3g}); rescale them"
        )
    if not real_valued and (x32.min() < 0 or x32.max() > 1):
        raise ValueError(
            f"{what} must hold uint8 (0..255) or values in [0, 1] with standardise=False; got range "
            f"[{x32.min():.3g}, {x32.max():.3g}]. Leave standardise=None (or True) to keep real values, "
            f"standardised per feature, and train with likelihood='gaussian-fixed' or 'gaussian-learned'"
        )
    return x32, 1.0


def _validate_y(y, n: int, what: str) -> np.ndarray:
    y = y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{what} must be 1-D [N], got shape {y.shape}")
    if len(y) != n:
        raise ValueError(f"{what} has {len(y)} labels for {n} samples")
    if y.dtype.kind not in "iu" and not (y.dtype.kind == "f" and np.all(y == np.round(y))):
        raise ValueError(f"{what} must hold integer class labels, got dtype {y.dtype}")
    if (y < 0).any():
        raise ValueError(f"{what} must hold labels >= 0")
    return y.astype(np.int64)


def check_labels(y_train: np.ndarray, y_test: np.ndarray | None) -> None:
    """``ValueError`` unless ``y_train`` holds at least two classes and every label of
    ``y_test`` occurs in ``y_train`` (a probe cannot predict a class it never saw)."""
    seen = np.unique(y_train)
    if len(seen) < 2:
        raise ValueError(
            f"y_train holds a single class ({seen.tolist()}); probes and contrastive "
            f"comparisons need at least two classes"
        )
    if y_test is not None:
        unseen = np.setdiff1d(np.unique(y_test), seen)
        if len(unseen):
            raise ValueError(
                f"y_test holds labels {unseen[:10].tolist()}{' ...' if len(unseen) > 10 else ''} "
                f"that y_train lacks (training labels: {seen[:20].tolist()}"
                f"{' ...' if len(seen) > 20 else ''})"
            )


CONTENT_FIELDS = ("x_train", "y_train", "x_test", "y_test")


def fingerprint(data) -> str:
    """SHA-256 (hex) of what a dataset holds: its name, classes, and the inputs and labels of
    both splits -- after subsetting and preprocessing, so it covers subset indices and
    scaling too. Provenance text (file paths) is left out.

    The fields hashed are the dataset's ``content_fields`` (default :data:`CONTENT_FIELDS`;
    missing ones are skipped): tensors, arrays or lists of strings. A tensor's hash is
    remembered on the dataset until the tensor changes (in place or replaced), so the
    200 MB of Fashion-MNIST are hashed once (about 0.2 s).
    """
    h = hashlib.sha256()
    h.update(
        json.dumps(
            {"name": getattr(data, "name", None), "classes": list(getattr(data, "classes", []) or [])}, default=str
        ).encode()
    )
    fields = getattr(data, "content_fields", CONTENT_FIELDS)
    memo = getattr(data, "_fingerprint_memo", None)
    memo = memo if isinstance(memo, dict) else {}
    for name in fields:
        if not hasattr(data, name):
            continue
        value = getattr(data, name)
        h.update(f"|{name}|".encode())
        h.update(_content_digest(value, memo, name).encode())
    try:
        data._fingerprint_memo = memo
    except AttributeError:  # a frozen or slotted dataset object: hash again next time
        pass
    return h.hexdigest()


def _content_digest(value, memo: dict, name: str) -> str:
    """SHA-256 of one field: a tensor (remembered by identity and version), an array or a list."""
    if isinstance(value, torch.Tensor):
        stamp = (id(value), value._version, value.data_ptr(), tuple(value.shape), str(value.dtype), str(value.device))
        if name in memo and memo[name][0] == stamp:
            return memo[name][1]
        arr = value.detach().cpu().contiguous()
        digest = _digest_bytes(f"{arr.dtype}{list(arr.shape)}", arr.reshape(-1).view(torch.uint8).numpy())
        memo[name] = (stamp, digest)
        return digest
    if isinstance(value, np.ndarray):
        arr = np.ascontiguousarray(value)
        return _digest_bytes(f"{arr.dtype}{list(arr.shape)}", arr.reshape(-1).view(np.uint8))
    if value is None:
        return "none"
    return _digest_bytes("list", json.dumps(list(value), default=str).encode())


def _digest_bytes(prefix: str, blob) -> str:
    h = hashlib.sha256(prefix.encode())
    h.update(memoryview(blob))
    return h.hexdigest()


def _check_stratifiable(y: np.ndarray, n_first: int, what: str, classes=None, hint: str = "") -> None:
    """``ValueError`` unless ``y`` can be split, stratified, into ``n_first`` and
    ``len(y) - n_first`` samples (scikit-learn's rule): every class with at least 2
    samples, and each side at least as large as the number of classes. The message names
    the classes with a single sample (and their names in ``classes``) and ends with ``hint``."""
    labels, counts = np.unique(y, return_counts=True)
    single = labels[counts < 2].tolist()
    if single:
        named = [
            f"{c} ({classes[c]!r})"
            if classes is not None and 0 <= c < len(classes) and str(classes[c]) != str(c)
            else str(c)
            for c in single[:10]
        ]
        more = f" and {len(single) - 10} more" if len(single) > 10 else ""
        raise ValueError(
            f"{what} holds a single sample of class {', '.join(named)}{more} (count 1); a stratified "
            f"split needs at least 2 samples of every class{hint}"
        )
    n_second = len(y) - n_first
    if min(n_first, n_second) < len(labels):
        raise ValueError(
            f"{what}: a stratified split into {n_first} and {n_second} of its {len(y)} samples needs "
            f"at least one sample of each of its {len(labels)} classes on both sides{hint}"
        )


def _split(raw: RawData, split_seed: int) -> RawData:
    from sklearn.model_selection import train_test_split

    n_test = math.ceil(TEST_FRACTION * len(raw.y_train))  # scikit-learn's rounding
    _check_stratifiable(
        raw.y_train,
        n_test,
        "y_train",
        raw.classes,
        "; add samples, drop such classes, or pass x_test and y_test (a split of your own)",
    )
    tr, te = train_test_split(
        np.arange(len(raw.y_train)), test_size=TEST_FRACTION, stratify=raw.y_train, random_state=split_seed
    )
    return RawData(
        raw.x_train[tr],
        raw.y_train[tr],
        raw.x_train[te],
        raw.y_train[te],
        raw.classes,
        raw.source + f", stratified {1 - TEST_FRACTION:.0%}/{TEST_FRACTION:.0%} split seed {split_seed}",
        raw.max_value,
    )


def _subset(x: np.ndarray, y: np.ndarray, n: int | None, seed: int, what: str):
    if n is None or n == len(y):
        return x, y
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
        raise ValueError(f"{what} must be a positive integer or None, got {n!r}")
    if n > len(y):
        raise ValueError(f"{what}={n} exceeds the {len(y)} samples available")
    n_cls = len(np.unique(y))
    if n < n_cls:
        raise ValueError(
            f"{what}={n} is smaller than the number of classes ({n_cls}); a stratified "
            f"subset needs at least one sample per class"
        )
    if len(y) - n < n_cls:
        raise ValueError(
            f"{what}={n} leaves {len(y) - n} of the {len(y)} samples out, fewer than the {n_cls} "
            f"classes (a stratified subset is drawn as a split); use {what} <= {len(y) - n_cls}, "
            f"or None for all {len(y)}"
        )
    _check_stratifiable(y, n, what.replace("n_", "y_"), hint=f"; use {what}=None (all {len(y)} samples)")
    from sklearn.model_selection import train_test_split

    idx, _ = train_test_split(np.arange(len(y)), train_size=n, stratify=y, random_state=seed)
    idx = np.sort(idx)
    return x[idx], y[idx]


def _to_tensor(x: np.ndarray, max_value: float) -> torch.Tensor:
    t = torch.from_numpy(x.astype(np.float32))  # a writable copy
    if max_value != 1.0:
        t.div_(max_value)
    if t.ndim == 3:  # [N, H, W] -> [N, 1, H, W]
        t = t.unsqueeze(1)
    return t


def _finish(name, raw: RawData, n_train, n_test, seed, split_seed) -> Dataset:
    x_tr, y_tr = _subset(raw.x_train, raw.y_train, n_train, seed, "n_train")
    x_te, y_te = _subset(raw.x_test, raw.y_test, n_test, seed, "n_test")
    check_labels(y_tr, y_te)
    info = {
        "name": name,
        "source": raw.source,
        "n_train": len(y_tr),
        "n_test": len(y_te),
        "n_train_available": len(raw.y_train),
        "n_test_available": len(raw.y_test),
        "seed": seed,
        "split_seed": split_seed,
    }
    val = {}
    if raw.x_val is not None:
        check_labels(y_tr, raw.y_val)
        val = {"x_val": _to_tensor(raw.x_val, raw.max_value), "y_val": torch.from_numpy(raw.y_val)}
        info["n_val"] = len(raw.y_val)
    return Dataset(
        name,
        _to_tensor(x_tr, raw.max_value),
        torch.from_numpy(y_tr),
        _to_tensor(x_te, raw.max_value),
        torch.from_numpy(y_te),
        list(raw.classes),
        info,
        **val,
    )


def _cached_raw(name: str, split_seed: int, refresh: bool) -> RawData:
    """Read the uint8 cache file, or build it from the source and write it atomically
    (under the file's lock: a second process waits and then reads what the first wrote)."""
    path = cache_dir() / "data" / f"{name}-split{split_seed}.safetensors"
    if not refresh:
        raw = _read_raw(path)
        if raw is not None:
            return raw
    with locked(path.with_name(path.name + ".lock"), what=f"the {name} dataset cache"):
        raw = None if refresh else _read_raw(path)  # written by another process while we waited?
        return raw if raw is not None else _build_raw(name, split_seed, path)


def _read_raw(path) -> RawData | None:
    """The cache file's arrays, or None when it is missing, corrupt, changed since it was
    written (its ``sha256``; files written before it existed carry none) or of an old format.
    A FIFO, device or folder at ``path`` raises :class:`~cmim_lab.errors.SpecialFileError`."""
    from safetensors import SafetensorError, safe_open

    if not check_regular(path, "dataset cache"):
        return None
    try:
        with safe_open(str(path), framework="numpy") as fh:
            meta = fh.metadata()
            arrays = {key: fh.get_tensor(key) for key in fh.keys()}
        if "sha256" in meta and meta["sha256"] != arrays_digest(arrays):
            warnings.warn(
                f"dataset cache {path} changed since it was written (its arrays do not match its "
                f"SHA-256); rebuilding it from its source",
                stacklevel=2,
            )
            return None
        if meta.get("format") == CACHE_FORMAT:
            return RawData(
                arrays["x_train"],
                arrays["y_train"],
                arrays["x_test"],
                arrays["y_test"],
                json.loads(meta["classes"]),
                meta["source"],
                float(meta["max_value"]),
            )
    except (SafetensorError, OSError, KeyError, ValueError):
        pass  # a corrupt or old cache file is rebuilt from its source
    return None


def _build_raw(name: str, split_seed: int, path) -> RawData:
    from safetensors.numpy import save

    loader, _ = SOURCES[name]
    raw = loader()
    if raw.x_test is None:
        raw = _split(raw, split_seed)
    arrays = {
        "x_train": np.ascontiguousarray(raw.x_train),
        "y_train": raw.y_train,
        "x_test": np.ascontiguousarray(raw.x_test),
        "y_test": raw.y_test,
    }
    meta = {
        "format": CACHE_FORMAT,
        "classes": json.dumps(raw.classes),
        "source": raw.source,
        "max_value": str(raw.max_value),
    }
    meta["sha256"] = arrays_digest(arrays)
    remove_temporaries(path)  # what killed writes left (under the file's lock)
    atomic_write_bytes(path, save(arrays, metadata=meta))
    return raw


def load_medmnist(
    flag: str,
    n_train: int | None = None,
    seed: int = 0,
    *,
    size: int = 28,
    n_test: int | None = None,
    root=None,
    path=None,
    download: bool = True,
) -> Dataset:
    """A MedMNIST 2-D dataset (``pathmnist``, ``bloodmnist``, ``dermamnist`` ...; see
    :mod:`cmim_lab.data.medmnist`) as float tensors in [0, 1], [N, C, size, size].

    MedMNIST's own splits are kept: train (``n_train``: a stratified subset), validation
    (``x_val``/``y_val``, whole, for choosing probe settings) and test (``n_test``). The
    file: ``path``, else ``<root>/<flag>[_<size>].npz`` (root default ``~/.medmnist``), else
    a download through the ``medmnist`` package when installed and online. Registered as
    ``<flag>`` (28 px) and ``<flag>-64``; other sizes (128, 224) through ``size``.

    Raises ``ValueError`` (unknown flag or size, multi-label task, malformed file) or
    :class:`DataUnavailableError` (no file, no download: names the package, file and URL).
    """
    seed = check_seed("seed", seed)
    raw = medmnist_source.read(flag, size, root=root, path=path, download=download)
    return _finish(flag if size == 28 else f"{flag}-{size}", raw, n_train, n_test, seed, 0)


def _medmnist_description(flag: str, size: int) -> str:
    return (
        f"MedMNIST {flag} at {size} px, its train/val/test splits; a local {medmnist_source.file_name(flag, size)} "
        f"(~/.medmnist or path=), else a download through the medmnist package"
    )


for _name, (_reader, _description) in SOURCES.items():
    registry.register_dataset(
        _name,
        functools.partial(load_images, _name),
        _description,
        locate="cmim_lab.data.sources:locate",
        defaults=SOURCE_DEFAULTS.get(_name),
    )

for _flag in (f for f in medmnist_source.FLAGS if f not in medmnist_source.KNOWN_MULTI_LABEL):
    registry.register_dataset(_flag, functools.partial(load_medmnist, _flag, size=28), _medmnist_description(_flag, 28))
    registry.register_dataset(
        f"{_flag}-64",
        functools.partial(load_medmnist, _flag, size=64),
        _medmnist_description(_flag, 64),
        defaults={"arch": "conv"},
    )


__all__ = ["Dataset", "DataUnavailableError", "available", "from_arrays", "load", "load_medmnist"]
