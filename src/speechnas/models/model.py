"""``SpeechModel``: front-end, SpecAugment, encoder and output head in one module.

Legend: B batch, S samples, T frames, D width, U target tokens.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from speechnas.features import Frontend
from speechnas.models._head import Head
from speechnas.models.encoder import Encoder

__all__ = ["SpeechModel"]

#: Tokens per second of speech assumed when a head's decoding cost depends on the output
#: length (characters of read English run at about 12 to 15 per second).
TOKENS_PER_SECOND = 12.0
_BYTES_PER_ELEMENT = 4  # float32


class SpeechModel(nn.Module):
    """Waveform in, tokens out.

    Args:
        frontend: ``(wave (B, S), wave_lens) -> (feats (B, T, F), feat_lens)``.
        encoder: ``(feats, feat_lens) -> (enc (B, T', D), enc_lens)``.
        head: an output head (loss, greedy and beam decoding).
        specaugment: applied to features in training mode only (``None`` for none).
    """

    def __init__(
        self,
        *,
        frontend: Frontend,
        encoder: Encoder,
        head: Head,
        specaugment: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.frontend = frontend
        self.specaugment = specaugment
        self.encoder = encoder
        self.head = head

    def encode(
        self, wave: Tensor, wave_lens: Tensor, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """(B, S), (B,) -> (B, T', D), (B,).

        In training mode SpecAugment draws its masks from ``generator``; without one, no
        masks are applied. Features are computed in float32 even under autocast (log-mel
        energies lose too much in bfloat16).
        """
        with torch.autocast(wave.device.type, enabled=False):
            feats, feat_lens = self.frontend(wave, wave_lens)
        if self.specaugment is not None and self.training and generator is not None:
            feats, feat_lens = self.specaugment(feats, feat_lens, generator)
        enc, enc_lens = self.encoder(feats, feat_lens)
        return enc, enc_lens

    def forward(
        self,
        wave: Tensor,
        wave_lens: Tensor,
        targets: Tensor,
        target_lens: Tensor,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Training loss for a batch (scalar); ``generator`` drives SpecAugment."""
        enc, enc_lens = self.encode(wave, wave_lens, generator)
        return self.head.loss(enc, enc_lens, targets, target_lens)

    def transcribe_ids(
        self, wave: Tensor, wave_lens: Tensor, beam_size: int = 1
    ) -> list[list[int]]:
        """Token ids per utterance: greedy for ``beam_size=1``, else beam search.

        Call in eval mode, under ``torch.no_grad``.
        """
        enc, enc_lens = self.encode(wave, wave_lens)
        if beam_size <= 1:
            return self.head.greedy_decode(enc, enc_lens)
        return self.head.beam_decode(enc, enc_lens, beam_size)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # --- cost ----------------------------------------------------------------------------

    def feature_frames(self, seconds: float) -> int:
        samples = int(round(seconds * 16000))
        fe = self.frontend
        return max(1, 1 + (samples - fe.win_length) // fe.hop_length)

    def frontend_macs(self, seconds: float) -> int:
        """Filterbank (and DCT) products of the front-end; the FFT itself is not counted."""
        frames = self.feature_frames(seconds)
        mel_stage = getattr(self.frontend, "logmel", self.frontend)  # MFCC wraps a log-mel
        fbank = getattr(mel_stage, "fbank", None)
        macs = frames * (fbank.numel() if fbank is not None else 0)
        dct = getattr(self.frontend, "dct", None)
        if dct is not None:
            macs += frames * dct.numel()
        return macs

    def macs(self, seconds: float = 1.0, tokens_per_second: float = TOKENS_PER_SECOND) -> int:
        """Analytic multiply-accumulates to transcribe ``seconds`` of audio (greedy).

        Encoder and head products (linear layers, convolutions, LSTMs, attention) at batch 1;
        the head emits ``tokens_per_second * seconds`` tokens. The front-end's filterbank is
        in :meth:`frontend_macs`, not here.
        """
        frames = self.feature_frames(seconds)
        enc_frames = self.encoder.output_frames(frames)
        tokens = int(round(tokens_per_second * seconds))
        return self.encoder.macs(frames) + self.head.macs(enc_frames, tokens)

    def activation_bytes(self, seconds: float = 5.0, batch_size: int = 1) -> int:
        """Estimated peak activation memory of inference on ``batch_size`` utterances.

        The waveform, its spectrum and the largest set of tensors alive at once inside the
        encoder (attention scores dominate for long inputs), in float32; weights excluded.
        """
        frames = self.feature_frames(seconds)
        samples = int(round(seconds * 16000))
        n_fft = 512
        spectrum = frames * (n_fft // 2 + 1) * 2  # framed signal and its power spectrum
        peak = max(spectrum, self.encoder.activation_elements(frames))
        return int(math.ceil((samples + peak) * batch_size * _BYTES_PER_ELEMENT))
