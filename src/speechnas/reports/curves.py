"""Training curves: loss and dev error rates per epoch, from a run's ``history.jsonl``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = ["plot_history", "read_history"]


def read_history(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The records of ``history.jsonl`` (one per epoch), in order."""
    text = Path(path).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def plot_history(history_path: str | os.PathLike[str], out_png: str | os.PathLike[str]) -> Path:
    """Plot training loss and dev WER/CER against epochs into ``out_png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = read_history(history_path)
    epochs = [r["epoch"] for r in records]
    fig, (ax_loss, ax_err) = plt.subplots(1, 2, figsize=(10, 3.6))
    ax_loss.plot(epochs, [r["train_loss"] for r in records], marker=".")
    ax_loss.set(xlabel="epoch", ylabel="CTC loss per utterance", title="training loss")
    dev = [r for r in records if "dev_wer" in r]
    if dev:
        x = [r["epoch"] for r in dev]
        ax_err.plot(x, [100 * r["dev_wer"] for r in dev], marker="o", label="WER")
        ax_err.plot(x, [100 * r["dev_cer"] for r in dev], marker="s", label="CER")
        ax_err.legend()
    ax_err.set(xlabel="epoch", ylabel="%", title="dev error rates")
    for ax in (ax_loss, ax_err):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    out = Path(out_png)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
