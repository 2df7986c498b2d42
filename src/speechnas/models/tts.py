"""The text-to-speech acoustic model a :class:`~speechnas.arch.tts.TTSSpec` describes.

Shapes (B batch, N tokens, T mel frames, D width, M mel bands)::

    tokens (B, N), token_lens (B,) -> embed + positions -> encoder blocks -> (B, N, D)
    duration predictor -> log durations (B, N); pitch / energy predictors -> (B, N)
    length regulator (durations: the targets in training, rounded predictions at inference)
        -> (B, T, D), mel_lens (B,); + pitch / energy embeddings, repeated likewise
    + positions -> decoder blocks -> linear -> mel (B, T, M)

Every block is masked by its sequence lengths (padding never reaches a real frame: an
utterance's output is the same in any batch). Pitch and energy are predicted per token
(FastSpeech 2's phoneme-level variance, as LightSpeech) and embedded from ``VARIANCE_BINS``
quantisation bins of their normalised values. :func:`build_tts_model` is the one place a
model is built from its spec.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from speechnas.arch.tts import TTSBlock, TTSSpec
from speechnas.models._blocks import sinusoids
from speechnas.models._masks import lengths_to_mask

__all__ = [
    "VARIANCE_BINS",
    "AcousticModel",
    "LengthRegulator",
    "VariancePredictor",
    "build_tts_model",
]

#: Quantisation bins of normalised pitch and energy, over [-3, 3] standard deviations.
VARIANCE_BINS = 64


def _masked(x: Tensor, mask: Tensor) -> Tensor:
    """``x`` (B, L, D) with the frames outside ``mask`` (B, L) set to zero (whatever they
    held: an attention row with nothing to attend to is NaN, and NaN * 0 is NaN)."""
    return torch.where(mask.unsqueeze(-1), x, torch.zeros((), dtype=x.dtype, device=x.device))


class _FeedForward(nn.Module):
    def __init__(self, width: int, expansion: float, dropout: float) -> None:
        super().__init__()
        hidden = max(1, round(width * expansion))
        self.net = nn.Sequential(
            nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, width)
        )

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.net(x)
        return out


class _Block(nn.Module):
    """One encoder or decoder block: its mixing op (attention or convolution) and a
    feed-forward network, each residual with post layer norm (FastSpeech's FFT block)."""

    def __init__(self, block: TTSBlock, width: int, dropout: float) -> None:
        super().__init__()
        self.kind = block.kind
        if block.kind == "transformer":
            self.attention = nn.MultiheadAttention(
                width, block.heads, dropout=dropout, batch_first=True
            )
        elif block.kind == "conv":
            self.conv: nn.Module = nn.Conv1d(width, width, block.kernel, padding=block.kernel // 2)
        else:  # dsconv: depthwise then pointwise
            self.conv = nn.Sequential(
                nn.Conv1d(width, width, block.kernel, padding=block.kernel // 2, groups=width),
                nn.Conv1d(width, width, 1),
            )
        self.norm1 = nn.LayerNorm(width)
        self.ffn = _FeedForward(width, block.ffn_expansion, dropout)
        self.norm2 = nn.LayerNorm(width)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        if self.kind == "transformer":
            h, _ = self.attention(x, x, x, key_padding_mask=~mask, need_weights=False)
        else:
            h = torch.relu(self.conv(_masked(x, mask).transpose(1, 2)).transpose(1, 2))
        x = _masked(self.norm1(x + self.dropout(h)), mask)
        return _masked(self.norm2(x + self.dropout(self.ffn(x))), mask)


class VariancePredictor(nn.Module):
    """FastSpeech's variance predictor: ``layers`` x (convolution, ReLU, layer norm, dropout),
    then a linear layer to one value per position; padding positions give 0."""

    def __init__(self, width: int, layers: int, kernel: int, dropout: float) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Conv1d(width, width, kernel, padding=kernel // 2) for _ in range(layers)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(width) for _ in range(layers))
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(width, 1)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """(B, L, D), (B, L) -> (B, L)."""
        for conv, norm in zip(self.convs, self.norms, strict=True):
            x = _masked(x, mask)
            x = self.dropout(norm(torch.relu(conv(x.transpose(1, 2)).transpose(1, 2))))
        out: Tensor = self.out(x).squeeze(-1)
        return torch.where(mask, out, torch.zeros((), dtype=out.dtype, device=out.device))


class LengthRegulator(nn.Module):
    """Repeats each token's vector over its frames: (B, N, D) and durations (B, N) in frames
    -> (B, T, D) with T the longest total, and the totals (B,) (frames past an utterance's
    total are zero). Durations of padding tokens must be 0."""

    def forward(self, x: Tensor, durations: Tensor) -> tuple[Tensor, Tensor]:
        durations = durations.clamp_min(0).long()
        lens = durations.sum(dim=1)
        longest = int(lens.max().item()) if lens.numel() else 0
        out = x.new_zeros(x.shape[0], max(longest, 1), x.shape[2])
        for b in range(x.shape[0]):
            frames = torch.repeat_interleave(x[b], durations[b], dim=0)
            out[b, : frames.shape[0]] = frames
        return out, lens


class AcousticModel(nn.Module):
    """A non-autoregressive acoustic model (module docstring).

    Args:
        spec: what to build.
        vocab_size: text tokens, padding (0) included.
    """

    def __init__(self, spec: TTSSpec, vocab_size: int) -> None:
        super().__init__()
        d = spec.width
        self.spec = spec
        self.embed = nn.Embedding(vocab_size, d, padding_idx=0)
        self.encoder = nn.ModuleList(_Block(b, d, spec.dropout) for b in spec.encoder)
        self.decoder = nn.ModuleList(_Block(b, d, spec.dropout) for b in spec.decoder)

        def predictor() -> VariancePredictor:
            return VariancePredictor(d, spec.duration_layers, spec.duration_kernel, spec.dropout)

        self.duration = predictor()
        self.pitch = predictor() if spec.pitch else None
        self.energy = predictor() if spec.energy else None
        self.pitch_embed = nn.Embedding(VARIANCE_BINS, d) if spec.pitch else None
        self.energy_embed = nn.Embedding(VARIANCE_BINS, d) if spec.energy else None
        self.regulator = LengthRegulator()
        self.mel = nn.Linear(d, spec.n_mels)
        self.scale = math.sqrt(d)

    def _positions(self, x: Tensor) -> Tensor:
        return x + sinusoids(torch.arange(x.shape[1], device=x.device), x.shape[2])[None]

    @staticmethod
    def _bins(values: Tensor) -> Tensor:
        """Normalised values -> bin indices over [-3, 3]."""
        scaled = (values.clamp(-3.0, 3.0) + 3.0) / 6.0 * (VARIANCE_BINS - 1)
        return scaled.round().long()

    def encode(self, tokens: Tensor, token_lens: Tensor) -> tuple[Tensor, Tensor]:
        """(B, N) tokens -> (B, N, D) encoder output and its (B, N) mask."""
        mask = lengths_to_mask(token_lens, tokens.shape[1])
        x = _masked(self._positions(self.embed(tokens) * self.scale), mask)
        for block in self.encoder:
            x = block(x, mask)
        return x, mask

    def variance(
        self,
        tokens: Tensor,
        token_lens: Tensor,
        pitch: Tensor | None = None,
        energy: Tensor | None = None,
    ) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """The text stage: (B, N) tokens -> (B, N, D) token vectors with their pitch and
        energy embeddings added (the targets' where given, else the predictions'), their
        (B, N) mask, and the predictions (``log_durations``, ``pitch``, ``energy``)."""
        x, mask = self.encode(tokens, token_lens)
        out: dict[str, Tensor] = {"log_durations": self.duration(x, mask)}
        for name, predictor, embed, target in (
            ("pitch", self.pitch, self.pitch_embed, pitch),
            ("energy", self.energy, self.energy_embed, energy),
        ):
            if predictor is None or embed is None:
                continue
            predicted = predictor(x, mask)
            out[name] = predicted
            used = predicted if target is None else target
            x = x + _masked(embed(self._bins(used)), mask)
        return x, mask, out

    @staticmethod
    def frames_of(log_durations: Tensor, mask: Tensor) -> Tensor:
        """Predicted durations in frames: ``round(exp(log d) - 1)``, at least 1 for every
        real token (0 for padding)."""
        frames = torch.round(torch.exp(log_durations) - 1.0).clamp_min(1)
        return torch.where(mask, frames, torch.zeros_like(frames)).long()

    def decode(self, frames_x: Tensor, mel_lens: Tensor) -> Tensor:
        """The mel stage: (B, T, D) regulated frames and their (B,) lengths -> (B, T, M)."""
        frame_mask = lengths_to_mask(mel_lens, frames_x.shape[1])
        h = _masked(self._positions(frames_x), frame_mask)
        for block in self.decoder:
            h = block(h, frame_mask)
        return _masked(self.mel(h), frame_mask)

    def forward(
        self,
        tokens: Tensor,
        token_lens: Tensor,
        durations: Tensor | None = None,
        pitch: Tensor | None = None,
        energy: Tensor | None = None,
    ) -> dict[str, Tensor]:
        """Mel frames, their lengths and the variance predictions. With ``durations`` (and
        ``pitch``, ``energy``: per-token targets, normalised) the targets drive the length
        regulator and embeddings (teacher forcing, training); without them the predictions
        do (inference)."""
        x, mask, out = self.variance(tokens, token_lens, pitch, energy)
        if durations is None:  # every real token gets at least one frame
            durations = self.frames_of(out["log_durations"], mask)
        frames_x, mel_lens = self.regulator(x, durations)
        out["mel"] = self.decode(frames_x, mel_lens)
        out["mel_lens"] = mel_lens
        return out

    def loss(
        self,
        tokens: Tensor,
        token_lens: Tensor,
        mel: Tensor,
        durations: Tensor,
        pitch: Tensor | None = None,
        energy: Tensor | None = None,
    ) -> tuple[Tensor, dict[str, float]]:
        """Mel L1 over the real frames, plus the MSE of log(1 + duration) and of pitch and
        energy over the real tokens; the total and each part."""
        out = self(tokens, token_lens, durations, pitch, energy)
        frames = lengths_to_mask(out["mel_lens"], out["mel"].shape[1]).unsqueeze(-1)
        n = min(out["mel"].shape[1], mel.shape[1])
        mel_loss = ((out["mel"][:, :n] - mel[:, :n]).abs() * frames[:, :n]).sum() / (
            frames[:, :n].sum() * mel.shape[2]
        ).clamp_min(1)
        tok = lengths_to_mask(token_lens, tokens.shape[1]).to(mel.dtype)
        count = tok.sum().clamp_min(1)
        target = torch.log1p(durations.to(mel.dtype))
        parts = {
            "mel": mel_loss,
            "duration": (((out["log_durations"] - target) ** 2) * tok).sum() / count,
        }
        for name, value in (("pitch", pitch), ("energy", energy)):
            if name in out and value is not None:
                parts[name] = (((out[name] - value) ** 2) * tok).sum() / count
        total = sum(parts.values(), torch.zeros((), device=mel.device))
        return total, {k: float(v.detach()) for k, v in parts.items()}


def build_tts_model(spec: TTSSpec, vocab_size: int) -> AcousticModel:
    """The model ``spec`` describes, over ``vocab_size`` text tokens (padding 0 included)."""
    return AcousticModel(spec, vocab_size)
