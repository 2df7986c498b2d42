"""The readers of one corpus in one on-disk layout, by format name."""

from __future__ import annotations

from speechnas.data.readers._common import Reader
from speechnas.data.readers.canonical import read_canonical
from speechnas.data.readers.commonvoice import read_commonvoice
from speechnas.data.readers.kaldi import read_kaldi
from speechnas.data.readers.librispeech import read_librispeech
from speechnas.data.readers.nemo import read_nemo

__all__ = ["SINGLE_CORPUS"]

SINGLE_CORPUS: dict[str, Reader] = {
    "nemo": read_nemo,
    "kaldi": read_kaldi,
    "librispeech": read_librispeech,
    "commonvoice": read_commonvoice,
    "manifest": read_canonical,
}
