"""The recogniser whose CTC alignments give a TTS corpus its durations, trained here.

No aligner is downloaded: :func:`train_aligner` trains a small Conformer-CTC over characters
(the ``conformer-ctc-xs`` preset, the default recipe) on the TTS voice's own recordings. A
forced alignment needs far less than a good free decoding: the transcript is given, and the
recogniser only has to say where each character sits. The run resumes like any training
(its ``last.pt``), and one that has finished is not repeated.
"""

from __future__ import annotations

from pathlib import Path

from speechnas.errors import UserError
from speechnas.presets import preset
from speechnas.train import TrainConfig
from speechnas.train.loop import resumable_checkpoint, train

__all__ = ["ALIGNER_PRESET", "train_aligner"]

ALIGNER_PRESET = "conformer-ctc-xs"


def train_aligner(
    train_manifest: str | Path,
    out_dir: str | Path,
    *,
    steps: int = 1500,
    seed: int = 0,
    threads: int | None = None,
    progress: bool = True,
) -> Path:
    """Train (or finish training) the aligner on ``train_manifest``; its checkpoint.

    Raises:
        UserError: ``out_dir`` holds an aligner of other settings, or the training's (a
            missing manifest, no usable utterance, ...).
    """
    config = TrainConfig(
        train_manifest=str(train_manifest),
        out_dir=str(out_dir),
        arch=preset(ALIGNER_PRESET),
        tokenizer="char",
        max_epochs=10_000,
        max_steps=steps,
        seed=seed,
        threads=threads,
    )
    resume = resumable_checkpoint(config)
    if resume is None and (Path(out_dir) / "last.pt").exists():
        raise UserError(
            f"{out_dir} holds an aligner trained with other settings (steps, seed or data): "
            "remove the folder to train it again, or align with it as it is (--aligner)"
        )
    result = train(config, resume=resume, progress=progress)
    return result.last_checkpoint
