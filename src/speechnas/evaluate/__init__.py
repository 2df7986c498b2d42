"""Decoding and scoring: WER/CER and model evaluation on manifests."""

from __future__ import annotations

from speechnas.evaluate.wer import ErrorRates, NothingToScore, error_rates

__all__ = ["ErrorRates", "NothingToScore", "error_rates"]
