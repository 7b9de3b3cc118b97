"""SMILES strings: a regex tokenizer with an exact round trip, a vocabulary that travels
with the model, and the few RDKit calls the kit needs.

>>> tokenize("CC(=O)Nc1ccc(Cl)cc1[C@@H]%10")
['C', 'C', '(', '=', 'O', ')', 'N', 'c', '1', 'c', 'c', 'c', '(', 'Cl', ')', 'c', 'c', '1', '[C@@H]', '%10']
>>> "".join(tokenize(s)) == s      # always, for any string

Token ids of a molecule: ``[BOS, t_1, ..., t_n, EOS, PAD, ...]`` (see :class:`Vocabulary`).
RDKit is imported by the functions that use it; :func:`require_rdkit` names the install
command when it is missing.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import warnings
from collections import Counter
from typing import Iterable, Sequence

import numpy as np
import torch

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)
PAD_ID, BOS_ID, EOS_ID, UNK_ID = range(4)

# bracket atoms ([nH], [C@@H], [N+], [O-], [13CH3]), two-letter organic atoms (Br, Cl), two-digit
# ring closures (%10), then any single character: every character belongs to exactly one token,
# so "".join(tokenize(s)) == s for every string s
SMILES_REGEX = re.compile(r"(\[[^\[\]]+\]|Br|Cl|%\d{2}|.)", re.DOTALL)

# structural tokens every vocabulary holds, so randomised SMILES (more ring closures) of a
# corpus never meet an unknown digit
BASE_TOKENS = tuple("123456789") + ("%10", "%11", "%12") + tuple("()=#-/\\.:")

RDKIT_HINT = "pip install rdkit  (or: pip install 'cmim-lab[molecules]')"


def tokenize(smiles: str) -> list[str]:
    """Split a SMILES string into tokens; ``"".join(tokenize(s)) == s`` exactly."""
    if not isinstance(smiles, str):
        raise TypeError(f"tokenize needs a SMILES string, got {type(smiles).__name__}")
    return SMILES_REGEX.findall(smiles)


class Vocabulary:
    """Token <-> id map with the four specials first: ``<pad>`` 0, ``<bos>`` 1, ``<eos>`` 2,
    ``<unk>`` 3. Saved as JSON (:meth:`to_json`) in every molecule checkpoint, so a loaded
    model tokenizes and decodes without its training data.
    """

    def __init__(self, tokens: Sequence[str]):
        tokens = list(tokens)
        if tuple(tokens[:4]) != SPECIALS:
            tokens = list(SPECIALS) + [t for t in tokens if t not in SPECIALS]
        if len(set(tokens)) != len(tokens):
            raise ValueError("vocabulary tokens must be unique")
        if len(tokens) > np.iinfo(np.int16).max:
            raise ValueError(f"a vocabulary of {len(tokens)} tokens does not fit int16 token tensors")
        self.tokens = tokens
        self.index = {t: i for i, t in enumerate(tokens)}

    @classmethod
    def build(cls, smiles: Iterable[str], min_count: int = 1) -> "Vocabulary":
        """Tokens of ``smiles`` seen at least ``min_count`` times, plus :data:`BASE_TOKENS`;
        ordered by frequency, then alphabetically (deterministic)."""
        counts = Counter(t for s in smiles for t in tokenize(s))
        for t in BASE_TOKENS:
            counts.setdefault(t, 0)
        kept = sorted(
            (t for t, c in counts.items() if c >= min_count or t in BASE_TOKENS), key=lambda t: (-counts[t], t)
        )
        return cls(list(SPECIALS) + kept)

    def __len__(self) -> int:
        return len(self.tokens)

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocabulary) and self.tokens == other.tokens

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} tokens: {' '.join(self.tokens[4:24])}{' ...' if len(self) > 24 else ''})"

    def to_json(self) -> str:
        return json.dumps({"tokens": self.tokens})

    @classmethod
    def from_json(cls, text: str) -> "Vocabulary":
        """The vocabulary :meth:`to_json` wrote: ``{"tokens": [strings]}``; ``ValueError``
        saying what is wrong (not JSON, not that form, repeated tokens) otherwise."""
        form = 'JSON of the form {"tokens": ["<pad>", "<bos>", "<eos>", "<unk>", ...]} (Vocabulary.to_json)'
        try:
            blob = json.loads(text)
        except (json.JSONDecodeError, TypeError) as exc:
            raise ValueError(f"a vocabulary must be {form}; got text that is not JSON ({exc}): {text!r:.80}") from None
        tokens = blob.get("tokens") if isinstance(blob, dict) else None
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise ValueError(f"a vocabulary must be {form}; got {text!r:.80}")
        return cls(tokens)

    def encode(self, smiles: str) -> list[int]:
        """``[BOS, ids..., EOS]`` of one SMILES; unknown tokens map to ``<unk>`` (3), with a
        warning naming them and the SMILES."""
        ids = self._ids(smiles)
        if UNK_ID in ids:
            self._warn_unknown([smiles])
        return ids

    def _ids(self, smiles: str) -> list[int]:
        return [BOS_ID] + [self.index.get(t, UNK_ID) for t in tokenize(smiles)] + [EOS_ID]

    def unknown_tokens(self, smiles: str) -> list[str]:
        """The distinct tokens of ``smiles`` that are not in the vocabulary, in order of appearance."""
        return list(dict.fromkeys(t for t in tokenize(smiles) if t not in self.index))

    def _warn_unknown(self, smiles: Sequence[str], indices: Sequence[int] | None = None) -> None:
        """One warning for SMILES holding tokens outside the vocabulary: the tokens, how many
        SMILES, and up to :data:`MAX_EXAMPLES` of them (with their index in a batch)."""
        tokens = list(dict.fromkeys(t for s in smiles for t in self.unknown_tokens(s)))
        where = indices if indices is not None else [None] * len(smiles)
        examples = ", ".join(
            repr(s) + ("" if i is None else f" (index {i})") for s, i in list(zip(smiles, where))[:MAX_EXAMPLES]
        )
        more = f" and {len(smiles) - MAX_EXAMPLES} more" if len(smiles) > MAX_EXAMPLES else ""
        count = "a SMILES holds" if len(smiles) == 1 else f"{len(smiles)} SMILES hold"
        shown = ", ".join(map(repr, tokens[:20])) + (" ..." if len(tokens) > 20 else "")
        what = "a token" if len(tokens) == 1 else "tokens"
        warnings.warn(
            f"{count} {what} outside the vocabulary ({shown}), encoded as <unk> (a model of this "
            f"vocabulary never saw them, so its codes of these molecules are less reliable): "
            f"{examples}{more}",
            stacklevel=3,
        )

    def encode_batch(self, smiles: Sequence[str], length: int | None = None) -> torch.Tensor:
        """Token ids of many SMILES, padded with 0: int16 [N, length] (default: the longest).
        One warning names the tokens outside the vocabulary (encoded as ``<unk>``) and the
        SMILES holding them, if any.

        Raises ``ValueError`` if a SMILES needs more than ``length`` positions.
        """
        rows = [self._ids(s) for s in smiles]
        unknown = [i for i, r in enumerate(rows) if UNK_ID in r]
        if unknown:
            self._warn_unknown([smiles[i] for i in unknown], unknown)
        longest = max((len(r) for r in rows), default=2)
        length = longest if length is None else length
        if longest > length:
            raise ValueError(f"a SMILES needs {longest} token positions, more than length={length}")
        out = np.zeros((len(rows), length), dtype=np.int16)
        for i, r in enumerate(rows):
            out[i, : len(r)] = r
        return torch.from_numpy(out)

    def decode(self, ids) -> str:
        """SMILES of one row of ids: stops at the first ``<eos>``, skips ``<bos>``/``<pad>``;
        an ``<unk>`` is written as ``?`` (never valid SMILES)."""
        out = []
        for i in ids.tolist() if isinstance(ids, torch.Tensor) else ids:
            if i == EOS_ID:
                break
            if i in (PAD_ID, BOS_ID):
                continue
            out.append("?" if i == UNK_ID or i >= len(self.tokens) else self.tokens[i])
        return "".join(out)

    def decode_batch(self, ids: torch.Tensor) -> list[str]:
        """:meth:`decode` of every row of ``ids`` [N, T]."""
        return [self.decode(row) for row in ids.tolist()]

    def unknown_fraction(self, smiles: Sequence[str]) -> float:
        """Share of the tokens of ``smiles`` that are not in the vocabulary."""
        tokens = [t for s in smiles for t in tokenize(s)]
        return sum(t not in self.index for t in tokens) / max(len(tokens), 1)


# --- RDKit -------------------------------------------------------------------------------


def require_rdkit():
    """Import RDKit (with its parser warnings silenced) or raise ImportError with the fix."""
    try:
        from rdkit import Chem, RDLogger
    except ImportError as exc:
        raise ImportError(f"the molecule tools need RDKit, which is not installed: {RDKIT_HINT}") from exc
    return Chem, RDLogger


@contextlib.contextmanager
def quiet_rdkit():
    """Silence RDKit's parse errors on stderr (invalid SMILES are counted instead)."""
    _, RDLogger = require_rdkit()
    RDLogger.DisableLog("rdApp.*")
    try:
        yield
    finally:
        RDLogger.EnableLog("rdApp.*")


def canonical(smiles: str) -> str | None:
    """RDKit's canonical SMILES, or None when RDKit cannot parse ``smiles``."""
    Chem, _ = require_rdkit()
    with quiet_rdkit():
        mol = Chem.MolFromSmiles(smiles) if isinstance(smiles, str) and smiles else None
    return Chem.MolToSmiles(mol) if mol is not None else None


def canonicalise(smiles: Sequence[str]) -> tuple[list[str | None], list[int]]:
    """Canonical SMILES of each string (None where unparsable) and the indices that failed."""
    out = [canonical(s) for s in smiles]
    return out, [i for i, c in enumerate(out) if c is None]


def is_valid(smiles: str) -> bool:
    """True when RDKit parses ``smiles`` to a molecule (an empty string is not valid)."""
    return canonical(smiles) is not None


MAX_EXAMPLES = 5  # invalid SMILES quoted in a message


@functools.lru_cache(maxsize=2**17)
def _parses(smiles: str) -> bool:
    Chem, _ = require_rdkit()
    return Chem.MolFromSmiles(smiles) is not None


def invalid_smiles(smiles: Sequence) -> list[int]:
    """Indices of the entries of ``smiles`` that are not valid SMILES: not a string, empty,
    or unparsable by RDKit (memoised per string, so checking the same molecules again is cheap)."""
    require_rdkit()
    with quiet_rdkit():
        return [i for i, s in enumerate(smiles) if not (isinstance(s, str) and s and _parses(s))]


def invalid_report(smiles: Sequence, invalid: Sequence[int]) -> str:
    """``3 of 10 SMILES are invalid (RDKit cannot parse them), e.g. 'C1CC' (index 4), ...``:
    the count and up to :data:`MAX_EXAMPLES` examples with their positions."""
    examples = ", ".join(f"{smiles[i]!r} (index {i})" for i in list(invalid)[:MAX_EXAMPLES])
    more = f" and {len(invalid) - MAX_EXAMPLES} more" if len(invalid) > MAX_EXAMPLES else ""
    return (
        f"{len(invalid)} of {len(smiles)} SMILES are invalid (not a string, empty, or RDKit cannot parse "
        f"them), e.g. {examples}{more}"
    )


def randomised(smiles: str, n: int, seed: int) -> list[str]:
    """``n`` random (non-canonical) SMILES of the same molecule, reproducible for a ``seed``
    (RDKit's ``MolToRandomSmilesVect``); each parses back to the same canonical SMILES."""
    Chem, _ = require_rdkit()
    with quiet_rdkit():
        mol = Chem.MolFromSmiles(smiles) if isinstance(smiles, str) and smiles else None
    if mol is None:
        raise ValueError(f"cannot randomise an invalid SMILES: {smiles!r}")
    return list(Chem.MolToRandomSmilesVect(mol, n, randomSeed=int(seed) % (2**31)))


@functools.lru_cache(maxsize=65536)
def scaffold(smiles: str) -> str:
    """Bemis-Murcko scaffold SMILES (ring systems and linkers); ``""`` for acyclic molecules
    (memoised: splits with several seeds ask for the same molecules again). ``ValueError``
    naming ``smiles`` when it is not a valid SMILES (not a string, empty, unparsable)."""
    Chem, _ = require_rdkit()
    from rdkit.Chem.Scaffolds import MurckoScaffold

    with quiet_rdkit():
        mol = Chem.MolFromSmiles(smiles) if isinstance(smiles, str) and smiles else None
    if mol is None:
        raise ValueError(f"cannot compute the scaffold of {smiles!r}: not a valid SMILES (RDKit cannot parse it)")
    return MurckoScaffold.MurckoScaffoldSmiles(mol=mol, includeChirality=False)


def morgan_fingerprints(smiles: Sequence[str], radius: int = 2, n_bits: int = 2048) -> np.ndarray:
    """ECFP-style Morgan bit vectors (radius 2 = ECFP4): uint8 [N, n_bits] of 0/1."""
    Chem, _ = require_rdkit()
    from rdkit.Chem import rdFingerprintGenerator

    gen = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
    out = np.zeros((len(smiles), n_bits), dtype=np.uint8)
    for i, s in enumerate(smiles):
        mol = Chem.MolFromSmiles(s)
        if mol is None:
            raise ValueError(f"cannot fingerprint an invalid SMILES: {s!r}")
        out[i] = gen.GetFingerprintAsNumPy(mol)
    return out
