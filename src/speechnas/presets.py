"""Hand-designed baseline architectures, by name (pure data; no torch import).

These are the references that searched models must beat. Each is a small version of a
published design, sized to train in minutes on a laptop CPU:

* ``conformer-ctc-s``: Conformer-S-like (Gulati et al., 2020) CTC model, narrowed.
* ``conformer-ctc-xs``: the smallest Conformer-CTC, used by the demo.
* ``transformer-aed``: Transformer encoder with a Transformer decoder and auxiliary CTC
  (the ESPnet recipe shape).
* ``blstm-ctc``: bidirectional LSTM with CTC (the classic recurrent baseline).
* ``cnn-ctc``: QuartzNet / ContextNet-like depthwise-separable CNN with squeeze-and-excitation.
* ``conformer-transducer-streaming``: streaming Conformer-Transducer, 320 ms chunks.

Text-to-speech (:data:`TTS_PRESETS`, :func:`tts_preset`), over characters:

* ``fastspeech2``: FastSpeech 2's shape (Ren et al., 2021): 4 + 4 transformer blocks of
  width 256, pitch and energy predictors.
* ``lightspeech``: LightSpeech's searched shape (Luo et al., 2021): depthwise-separable
  convolutions of the kernels it found, width 256, feed-forward expansion 1.
"""

from __future__ import annotations

from speechnas.arch import ArchSpec, DecoderSpec, StreamingSpec
from speechnas.arch.tts import TTSBlock, TTSSpec

__all__ = ["PRESETS", "TTS_PRESETS", "preset", "tts_preset"]

PRESETS: dict[str, ArchSpec] = {
    "conformer-ctc-xs": ArchSpec.uniform(
        num_layers=3, width=96, heads=4, ffn_expansion=3.0, kernel=15, attention="rel"
    ),
    "conformer-ctc-s": ArchSpec.uniform(
        num_layers=6, width=144, heads=4, ffn_expansion=4.0, kernel=15, attention="rel"
    ),
    "transformer-aed": ArchSpec.uniform(
        encoder="transformer",
        num_layers=6,
        width=144,
        heads=4,
        ffn_expansion=4.0,
        activation="relu",
        attention="abs",
        decoder=DecoderSpec(kind="aed_transformer", dim=144, num_layers=2, heads=4),
    ),
    "blstm-ctc": ArchSpec.uniform(encoder="blstm", num_layers=3, width=256, subsampling_factor=4),
    "cnn-ctc": ArchSpec.uniform(
        encoder="cnn",
        num_layers=6,
        width=192,
        kernel=11,
        activation="swish",
        norm="batchnorm",
        subsampling="conv1d",
    ),
    "conformer-transducer-streaming": ArchSpec.uniform(
        num_layers=6,
        width=144,
        heads=4,
        ffn_expansion=4.0,
        kernel=15,
        attention="rel",
        norm="batchnorm",
        streaming=StreamingSpec(chunk=8, left_context=32, lookahead=2),
        decoder=DecoderSpec(kind="rnnt", predictor="stateless", dim=256),
    ),
}


def preset(name: str) -> ArchSpec:
    """Return the preset ``name``; raise ``ValueError`` listing the valid names."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; expected one of {sorted(PRESETS)}") from None


def _separable(*kernels: int) -> tuple[TTSBlock, ...]:
    return tuple(TTSBlock("dsconv", kernel=k, ffn_expansion=1.0) for k in kernels)


TTS_PRESETS: dict[str, TTSSpec] = {
    "fastspeech2": TTSSpec(text_units="char"),
    "lightspeech": TTSSpec(
        encoder=_separable(5, 25, 13, 9), decoder=_separable(17, 21, 9, 13), text_units="char"
    ),
}


def tts_preset(name: str) -> TTSSpec:
    """Return the TTS preset ``name``; raise ``ValueError`` listing the valid names."""
    try:
        return TTS_PRESETS[name]
    except KeyError:
        raise ValueError(
            f"unknown TTS preset {name!r}; expected one of {sorted(TTS_PRESETS)}"
        ) from None
