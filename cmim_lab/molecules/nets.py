"""A GRU encoder-decoder over token sequences: the ``gru`` architecture (molecules).

::

    tokens [B, L] -> embedding (64) -> GRU layers (hidden_sizes) -> state at the last token
                  -> Linear -> (mu, raw logvar) [B, d]
    z [B, d]      -> initial states tanh(Linear(z)) of the decoder GRU layers (hidden_sizes
                     reversed); input at step t: [embedding(x_t), z]; teacher forcing
                  -> Linear -> token logits [B, T, V]; loss: token cross-entropy

:class:`SequenceEncoderDecoder` implements :class:`~cmim_lab.model.LatentModel`, the
interface the objectives, trainer, checkpoints and embeddings call on every model:

* ``encode(x)`` -> :class:`~cmim_lab.posterior.Posterior` (``mu``, ``logvar`` [B, d],
  log-variance clamped at ``logvar_floor`` by the base class);
* ``recon_nll(z, x, likelihood)`` -> [B]: -log p(x|z), token cross-entropy summed over the
  target tokens of each sequence (``t_1..t_n, EOS``), nats per molecule;
* ``observed_units(x)``: mean number of target tokens per sequence in the batch (the
  ``normalised`` reduction divides by it: nats per token);
* ``hidden_features(mu, x)`` -> one [B, width] block per decoder layer: the teacher-forced
  decoder states given mu, mean-pooled over the target positions (the informative embedding);
* ``reconstruct(x)`` -> greedy token ids [B, T] decoded from mu(x) (int64, after BOS, up to
  and including EOS, PAD after it); ``generate(z)`` the same from any codes and
  ``decode_smiles(z)`` as strings;
* ``context()`` -> ``{"vocab": <JSON>}``: the vocabulary travels with every checkpoint, so a
  loaded model tokenizes and decodes on its own;
* ``projector``: SimCLR's head for InfoNCE (or None).

Token tensors may be int16 (the data's storage type); they are trimmed to the longest
sequence in the batch, so padding costs nothing. :func:`build_gru` builds the model from
a :class:`~cmim_lab.config.TrainConfig` (``registry.arch("gru")``); the defaults of a
molecule model (widths, latent size) are the corpus's ``defaults`` in
:mod:`cmim_lab.molecules.plugin`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..model import LatentModel
from .smiles import BOS_ID, EOS_ID, PAD_ID, Vocabulary

EMBED_DIM = 64  # token embedding width, shared by encoder and decoder
MAX_DECODE_FACTOR = 2  # greedy decoding stops after this many times the training length


def _trim(x: torch.Tensor) -> torch.Tensor:
    """[B, L] token ids as int64, cut after the last non-pad column of the batch."""
    x = x.long()
    used = int((x != PAD_ID).any(0).nonzero().max()) + 1 if x.numel() and (x != PAD_ID).any() else 1
    return x[:, :used]


def token_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-log p of the targets ``x[:, 1:T+1]`` (int64 token ids [B, L]) under teacher-forced
    next-token logits [B, T, V], summed over each sequence's non-pad targets: [B] (nats)."""
    target = x[:, 1 : logits.shape[1] + 1]
    return F.cross_entropy(logits.transpose(1, 2), target, ignore_index=PAD_ID, reduction="none").sum(1)


class SequenceEncoderDecoder(LatentModel):
    """GRU encoder q(z|x) and autoregressive GRU decoder p(x|z) over a :class:`Vocabulary`.

    Args:
        vocab: the token vocabulary (V = ``len(vocab)``).
        input_shape: (L,), the padded training length (bounds greedy decoding at 2 L).
        latent_dim: d.
        hidden_sizes: encoder GRU widths, bottom up; the decoder mirrors them.
        logvar_floor: lower clamp of log sigma^2.
        projection_dim: width of InfoNCE's projection head (0: none).
    """

    def __init__(
        self,
        vocab: Vocabulary,
        *,
        input_shape: tuple[int, ...],
        latent_dim: int,
        hidden_sizes,
        logvar_floor: float,
        projection_dim: int = 0,
    ):
        super().__init__(input_shape=input_shape, latent_dim=latent_dim, logvar_floor=logvar_floor)
        self.vocab = vocab
        widths = [int(h) for h in hidden_sizes]
        self.embedding = nn.Embedding(len(vocab), EMBED_DIM, padding_idx=PAD_ID)
        self.encoder = nn.ModuleList()
        width = EMBED_DIM
        for h in widths:
            self.encoder.append(nn.GRU(width, h, batch_first=True))
            width = h
        self.head = nn.Linear(width, 2 * latent_dim)
        self.dec_widths = list(reversed(widths))
        self.init = nn.Linear(latent_dim, sum(self.dec_widths))
        self.decoder = nn.ModuleList()
        width = EMBED_DIM + latent_dim
        for h in self.dec_widths:
            self.decoder.append(nn.GRU(width, h, batch_first=True))
            width = h
        self.out = nn.Linear(width, len(vocab))
        self.init_projector(projection_dim)  # last: parameter initialisation order is part of every result

    @property
    def decoder_widths(self) -> list[int]:
        """Width of each decoder GRU layer (the blocks of the informative embedding)."""
        return list(self.dec_widths)

    def context(self) -> dict:
        """``{"vocab": vocabulary JSON}``: what :func:`build_gru` needs beyond the config."""
        return {"vocab": self.vocab.to_json()}

    def check_input(self, x: torch.Tensor) -> None:
        """``ValueError`` unless ``x`` is token ids [N, L] (any integer dtype, any length L)
        within this vocabulary, 0 <= id < V: what :func:`~cmim_lab.embeddings.embed` checks
        before encoding."""
        if x.ndim != 2:
            raise ValueError(
                f"x has shape {tuple(x.shape)}; a sequence model encodes token ids [N, L] (encode "
                f"SMILES with model.vocab.encode_batch, or use embed_smiles)"
            )
        if x.is_floating_point() or x.is_complex() or x.dtype == torch.bool:
            raise ValueError(f"x must hold integer token ids, got dtype {x.dtype}")
        if x.numel() and (int(x.min()) < 0 or int(x.max()) >= len(self.vocab)):
            raise ValueError(
                f"x holds token ids from {int(x.min())} to {int(x.max())}; this vocabulary has ids "
                f"0 to {len(self.vocab) - 1}"
            )

    # --- encoder ---------------------------------------------------------------------------
    def encode_stats(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids [B, L] -> (mu, raw logvar), each [B, d], from the top GRU state at each
        sequence's last token (its EOS)."""
        x = _trim(x)
        h = self.embedding(x)
        for gru in self.encoder:
            h, _ = gru(h)
        last = (x != PAD_ID).sum(1).clamp(min=1) - 1  # [B] index of EOS
        state = h[torch.arange(len(x), device=x.device), last]  # [B, width]
        mu, logvar = self.head(state).chunk(2, dim=-1)
        return mu, logvar

    # --- decoder ---------------------------------------------------------------------------
    def _initial_states(self, z: torch.Tensor) -> list[torch.Tensor]:
        return [s.unsqueeze(0).contiguous() for s in torch.tanh(self.init(z)).split(self.dec_widths, dim=-1)]

    def _teacher_force(self, z: torch.Tensor, inputs: torch.Tensor):
        """Decoder on ``inputs`` [B, T] (BOS, t_1..t_n) given z: logits [B, T, V] and the
        outputs of every layer, a list of [B, T, width]."""
        e = self.embedding(inputs)
        h = torch.cat([e, z.unsqueeze(1).expand(-1, e.shape[1], -1)], dim=-1)
        layers = []
        for gru, h0 in zip(self.decoder, self._initial_states(z)):
            h, _ = gru(h, h0)
            layers.append(h)
        return self.out(h), layers

    def recon_nll(self, z: torch.Tensor, x: torch.Tensor, likelihood: str = "categorical") -> torch.Tensor:
        """-log p(x|z): token cross-entropy summed over each sequence's targets, [B] (nats
        per molecule).

        ``likelihood`` must be ``categorical`` (tokens); it is an argument so that every model
        shares the objectives' call.
        """
        if likelihood != "categorical":
            raise ValueError(f"a sequence model has a categorical likelihood over tokens, not {likelihood!r}")
        x = _trim(x)
        logits, _ = self._teacher_force(z, x[:, :-1])
        return token_nll(logits, x)

    def observed_units(self, x: torch.Tensor) -> torch.Tensor:
        """Mean number of target tokens (t_1..t_n and EOS) per sequence of the batch (a
        0-d tensor)."""
        return (x[:, 1:] != PAD_ID).sum() / len(x)

    def hidden_features(self, mu: torch.Tensor, x: torch.Tensor) -> list[torch.Tensor]:
        """Teacher-forced decoder states given ``mu`` [B, d] on the tokens ``x`` [B, L],
        mean-pooled over the target positions: one [B, width] block per decoder layer."""
        x = _trim(x)
        _, layers = self._teacher_force(mu, x[:, :-1])
        mask = (x[:, 1:] != PAD_ID).unsqueeze(-1).to(mu.dtype)  # [B, T, 1]
        count = mask.sum(1).clamp(min=1)
        return [(h * mask).sum(1) / count for h in layers]

    def token_logits(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Teacher-forced next-token logits [B, T, V] given z (targets: ``x[:, 1:]``)."""
        return self._teacher_force(z, _trim(x)[:, :-1])[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits [B, T, V] decoded from the posterior mean (deterministic)."""
        return self.token_logits(self.encode(x).mu, x)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Greedy token ids [B, T] (int64) decoded from mu(x) of the tokens ``x`` [B, L]:
        the model's reconstruction, ``vocab.decode_batch`` turns it into SMILES."""
        return self.generate(self.encode(x).mu)

    @torch.no_grad()
    def generate(self, z: torch.Tensor, max_len: int | None = None) -> torch.Tensor:
        """Greedy decoding from codes ``z`` [B, d]: token ids [B, T] (after BOS, up to EOS;
        PAD after a sequence's EOS), at most ``max_len`` (default 2 L) steps."""
        max_len = max_len or MAX_DECODE_FACTOR * int(self.input_shape[0])
        states = self._initial_states(z)
        tok = torch.full((len(z), 1), BOS_ID, dtype=torch.long, device=z.device)
        done = torch.zeros(len(z), dtype=torch.bool, device=z.device)
        out = []
        for _ in range(max_len):
            h = torch.cat([self.embedding(tok), z.unsqueeze(1)], dim=-1)
            for i, gru in enumerate(self.decoder):
                h, states[i] = gru(h, states[i])
            tok = self.out(h).argmax(-1)  # [B, 1]
            tok = tok.masked_fill(done.unsqueeze(1), PAD_ID)
            out.append(tok)
            done |= tok.squeeze(1) == EOS_ID
            if bool(done.all()):
                break
        return torch.cat(out, dim=1) if out else tok[:, :0]

    def decode_smiles(self, z: torch.Tensor, max_len: int | None = None) -> list[str]:
        """Greedy SMILES strings decoded from ``z`` [B, d] (B strings, possibly invalid)."""
        return self.vocab.decode_batch(self.generate(z, max_len))


def build_gru(
    input_shape,
    *,
    latent_dim: int,
    hidden_sizes,
    logvar_floor: float,
    projection_dim: int = 0,
    context: dict | None = None,
) -> SequenceEncoderDecoder:
    """The ``gru`` architecture's builder (see :func:`cmim_lab.nets.build_model`): a
    :class:`SequenceEncoderDecoder` for token tensors of ``input_shape`` (L,).

    ``context["vocab"]``: the token :class:`Vocabulary` (or its JSON, as a checkpoint stores
    it); the dataset supplies it as ``data.model_context``. Raises ``ValueError`` when it is
    missing or the samples are not 1-D token sequences.
    """
    vocab = (context or {}).get("vocab")
    if vocab is None:
        raise ValueError(
            "arch 'gru' needs the data's vocabulary: pass context={'vocab': data.vocab} "
            "(data.model_context of a SMILES corpus; a checkpoint stores it)"
        )
    if isinstance(vocab, str):
        vocab = Vocabulary.from_json(vocab)
    if not isinstance(vocab, Vocabulary):
        raise ValueError(f"context['vocab'] must be a Vocabulary or its JSON, got {type(vocab).__name__}")
    if len(tuple(input_shape)) != 1:
        raise ValueError(f"arch 'gru' reads token sequences [N, L], got samples of shape {tuple(input_shape)}")
    hidden_sizes = tuple(int(h) for h in hidden_sizes)
    if not hidden_sizes or any(h <= 0 for h in hidden_sizes):
        raise ValueError(f"hidden_sizes (GRU widths) must be a non-empty list of positive widths, got {hidden_sizes}")
    return SequenceEncoderDecoder(
        vocab,
        input_shape=input_shape,
        latent_dim=latent_dim,
        hidden_sizes=hidden_sizes,
        logvar_floor=logvar_floor,
        projection_dim=projection_dim,
    )
