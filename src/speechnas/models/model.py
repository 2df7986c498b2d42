"""``SpeechModel``: front-end, SpecAugment, encoder and output head in one module.

Legend: B batch, S samples, T frames, D width, U target tokens.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from speechnas.features import Frontend
from speechnas.models._head import Head
from speechnas.models.aed import AEDHead
from speechnas.models.ctc import CTCHead
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

    def features(
        self, wave: Tensor, wave_lens: Tensor, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """(B, S), (B,) -> (B, T, F), (B,): the front-end, then SpecAugment.

        In training mode SpecAugment draws its masks from ``generator``; without one, no
        masks are applied. Features are computed in float32 even under autocast (log-mel
        energies lose too much in bfloat16).
        """
        with torch.autocast(wave.device.type, enabled=False):
            feats, feat_lens = self.frontend(wave, wave_lens)
        if self.specaugment is not None and self.training and generator is not None:
            feats, feat_lens = self.specaugment(feats, feat_lens, generator)
        return feats, feat_lens

    def encode(
        self, wave: Tensor, wave_lens: Tensor, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """(B, S), (B,) -> (B, T', D), (B,); see :meth:`features` for ``generator``."""
        enc, enc_lens = self.encoder(*self.features(wave, wave_lens, generator))
        return enc, enc_lens

    @torch.no_grad()
    def zero_residual_branches(self) -> int:
        """Zero the last affine map (weight and bias) of every encoder layer's residual
        branches (:meth:`~speechnas.models._layer.EncoderLayer.residual_outputs`), so each layer
        starts as its skip path and a deep encoder starts as a shallow one (SkipInit, De and
        Smith, 2020; ReZero, Bachlechner et al., 2021). The maps still get gradients: the
        branches open from the first step. A layer in a stack shorter than its family's
        ``close_from_layers`` keeps its branches. Returns how many maps were zeroed (0 for
        families without residual branches)."""
        layers = self.encoder.kept_layers
        outputs = [
            m
            for layer in layers
            if len(layers) >= layer.close_from_layers
            for m in layer.residual_outputs()
        ]
        for m in outputs:
            for name in ("weight", "bias"):
                param = getattr(m, name)
                if isinstance(param, Tensor):
                    param.zero_()
        return len(outputs)

    @property
    def inter_ctc_tap(self) -> int | None:
        """How many encoder layers feed the intermediate CTC loss, or ``None`` where it
        cannot be used: no CTC projection (a transducer), fewer than two layers, or no
        layer before the last with the output width.

        The tap is the layer nearest the middle (``len(layers) // 2`` layers, as in Lee and
        Watanabe, 2021) among those whose output has the final width, so the head's
        projection reads it.
        """
        if _ctc_projection(self.head) is None:
            return None
        layers = self.encoder.kept_layers
        fits = [i for i in range(1, len(layers)) if layers[i - 1].width == self.encoder.width]
        if not fits:
            return None
        middle = len(layers) // 2
        return min(fits, key=lambda i: (abs(i - middle), i))

    def forward(
        self,
        wave: Tensor,
        wave_lens: Tensor,
        targets: Tensor,
        target_lens: Tensor,
        generator: torch.Generator | None = None,
        inter_ctc: float = 0.0,
    ) -> Tensor:
        """Training loss for a batch (scalar); ``generator`` drives SpecAugment.

        With ``inter_ctc`` ``w > 0``: ``(1 - w) * head loss + w * CTC loss`` of the output of
        the first :attr:`inter_ctc_tap` layers, read by the head's CTC projection
        (intermediate CTC: a shorter path for the gradient to the lower layers; no
        parameters are added, and decoding is unchanged).

        Raises:
            ValueError: ``inter_ctc`` outside ``[0, 1)``, or ``> 0`` for a model whose
                :attr:`inter_ctc_tap` is ``None``.
        """
        if not 0.0 <= inter_ctc < 1.0:
            raise ValueError(f"inter_ctc={inter_ctc!r} is invalid; expected a number in [0, 1)")
        feats, feat_lens = self.features(wave, wave_lens, generator)
        if inter_ctc == 0.0:
            enc, enc_lens = self.encoder(feats, feat_lens)
            return self.head.loss(enc, enc_lens, targets, target_lens)
        tap = self.inter_ctc_tap
        ctc = _ctc_projection(self.head)
        if tap is None or ctc is None:
            raise ValueError(
                "inter_ctc needs a CTC projection (a CTC or attention head) and a layer "
                "before the last with the output width; this model has none"
            )
        enc, enc_lens, mid, mid_lens = self.encoder.forward_tapped(feats, feat_lens, tap)
        final = self.head.loss(enc, enc_lens, targets, target_lens)
        inter = ctc.loss(mid, mid_lens, targets, target_lens)
        return (1.0 - inter_ctc) * final + inter_ctc * inter

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

    @property
    def has_ctc(self) -> bool:
        """Whether the model has a CTC projection (:meth:`ctc_log_probs` works)."""
        return _ctc_projection(self.head) is not None

    def ctc_log_probs(self, wave: Tensor, wave_lens: Tensor) -> tuple[Tensor, Tensor]:
        """(B, S), (B,) -> (B, T', V) frame log-probabilities of the CTC projection, (B,)
        their lengths (forced alignment reads them). Call in eval mode.

        Raises:
            ValueError: the model has no CTC projection (a transducer).
        """
        ctc = _ctc_projection(self.head)
        if ctc is None:
            raise ValueError("this model has no CTC projection (a transducer head)")
        enc, enc_lens = self.encode(wave, wave_lens)
        return ctc.log_probs(enc), enc_lens

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


def _ctc_projection(head: Head) -> CTCHead | None:
    """The CTC projection a head has: itself, an attention decoder's auxiliary one, or
    ``None`` (a transducer)."""
    if isinstance(head, CTCHead):
        return head
    if isinstance(head, AEDHead):
        return head.ctc
    return None
