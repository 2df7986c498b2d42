"""A TTS search's report section: its front models heard side by side.

The first ``sentences`` held-out sentences of the search (the split its trials were scored
on), synthesised by each front model from its trial's last checkpoint and vocoded by the same
Griffin-Lim as the recordings (:func:`~speechnas.tts.listen.write_listening_page`), in the
report's ``listen/`` folder, embedded in the report.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from speechnas.errors import UserError
from speechnas.search.config import SearchConfig
from speechnas.search.store import TrialRecord
from speechnas.tts.corpus import TTSCorpus
from speechnas.tts.listen import Synthesise, write_listening_page
from speechnas.tts.score import synthesise
from speechnas.tts.train import load_tts_checkpoint

__all__ = ["listening_section"]

log = logging.getLogger(__name__)


def _synthesiser(checkpoint: str) -> Synthesise:
    model, norm, _, _ = load_tts_checkpoint(checkpoint)

    def run(tokens: Sequence[int]) -> np.ndarray:
        return synthesise(model, norm, tokens).numpy()

    return run


def listening_section(
    config: SearchConfig,
    front: Sequence[TrialRecord],
    out_dir: Path,
    *,
    sentences: int = 3,
    models: int = 4,
) -> list[str]:
    """The section's HTML (empty for a recogniser search, or a front without checkpoints);
    writes ``out_dir/listen``. At most ``models`` front models, best first objective first."""
    if config.tts is None:
        return []
    held = [r for r in front if r.checkpoint and Path(r.checkpoint).is_file()]
    held.sort(key=lambda r: r.metrics.get(config.objectives[0], float("inf")))
    held = held[:models]
    if not held:
        return []
    try:
        corpus = TTSCorpus.load(config.tts.corpus)
    except UserError as e:  # moved or removed since the search: the rest of the report stands
        log.warning("no listening page: %s", e)
        return [f"<h2>Listen</h2><p>No listening page: {html.escape(str(e))}</p>"]
    _, held_out = corpus.split(config.tts.held_out, seed=config.seed)
    page = write_listening_page(
        out_dir / "listen",
        held_out[:sentences],
        {f"trial {r.number}": _synthesiser(str(r.checkpoint)) for r in held},
        title=f"speechnas search {config.name}: the front, heard",
    )
    link = page.relative_to(out_dir).as_posix()
    return [
        "<h2>Listen: the front on held-out sentences</h2>",
        f"<p>{len(held)} front model(s) on {min(sentences, len(held_out))} held-out "
        "sentence(s), from each trial's last checkpoint; every player is vocoded by the same "
        f'Griffin-Lim. <a href="{link}">Open the page</a>.</p>',
        f'<iframe src="{link}" style="width:100%;height:520px;border:1px solid #ccc"></iframe>',
    ]
