"""A page to listen to TTS models side by side: per held-out sentence, the recording and
each model's synthesis as audio players, with their mel spectrograms.

Every audio, the recording's included, goes through the same Griffin-Lim vocoder
(:func:`~speechnas.features.griffin_lim.vocode`), so what differs between players is the
acoustic model, not the vocoder. Files are written beside ``index.html`` (16 kHz WAV, PNG),
named ``s<sentence>-m<column>-<name>`` (column 0 the recording).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from speechnas.features.griffin_lim import vocode
from speechnas.features.mel import LogMel
from speechnas.tts.corpus import TTS_FRONTEND, TTSUtterance

__all__ = ["Synthesise", "write_listening_page"]

#: A model as the page sees it: text tokens -> (T, M) natural-log mel power.
Synthesise = Callable[[Sequence[int]], np.ndarray]


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "model"


def _recorded(u: TTSUtterance) -> np.ndarray:
    mel: np.ndarray = u.mel.numpy()
    return mel


def _of(model: Synthesise) -> Callable[[TTSUtterance], np.ndarray]:
    def mel_of(u: TTSUtterance) -> np.ndarray:
        return np.asarray(model(u.tokens))

    return mel_of


def _mel_png(mel: np.ndarray, out: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.0, 1.8))
    ax.imshow(mel.T, origin="lower", aspect="auto", cmap="magma", vmin=-12, vmax=4)
    ax.set(title=title, xlabel="frame (10 ms)", ylabel="mel band")
    ax.title.set_fontsize(8)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)


def write_listening_page(
    out_dir: str | Path,
    sentences: Sequence[TTSUtterance],
    models: Mapping[str, Synthesise],
    *,
    title: str = "TTS models, side by side",
    griffin_lim_iterations: int = 32,
) -> Path:
    """Write ``index.html`` with a row per sentence and a column per model (module
    docstring); returns its path.

    Raises:
        ValueError: no sentence or no model.
    """
    if not sentences or not models:
        raise ValueError("a listening page needs at least one sentence and one model")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    frontend = LogMel(**TTS_FRONTEND, normalize="none")
    rate = int(TTS_FRONTEND["sample_rate"])
    columns: list[tuple[str, Callable[[TTSUtterance], np.ndarray]]] = [
        ("recording (Griffin-Lim)", _recorded),
        *((name, _of(model)) for name, model in models.items()),
    ]
    rows = []
    for i, u in enumerate(sentences):
        cells = []
        for j, (name, mel_of) in enumerate(columns):
            mel = mel_of(u)
            stem = f"s{i:02d}-m{j}-{_slug(name)}"  # the column index keeps names apart
            audio = torch.as_tensor(mel, dtype=torch.float32)
            wave = vocode(audio, frontend, iterations=griffin_lim_iterations).numpy()
            peak = float(np.abs(wave).max()) or 1.0
            sf.write(out / f"{stem}.wav", (0.9 * wave / peak).astype(np.float32), rate)
            _mel_png(mel, out / f"{stem}.png", f"{name}: {mel.shape[0]} frames")
            cells.append(
                f'<td><audio controls preload="none" src="{stem}.wav"></audio><br>'
                f'<img src="{stem}.png" alt="{html.escape(name)}"></td>'
            )
        rows.append(
            f"<tr><td>{html.escape(u.text)}<br><small>{html.escape(u.id)}</small></td>"
            + "".join(cells)
            + "</tr>"
        )
    head = "".join(f"<th>{html.escape(n)}</th>" for n, _ in columns)
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px;vertical-align:top;font-size:13px}"
        "img{width:360px}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p>Every player, the recording's too, is vocoded by "
        "the same Griffin-Lim: the differences are the acoustic models'.</p>"
        f"<table><tr><th>sentence</th>{head}</tr>{''.join(rows)}</table></body></html>"
    )
    path = out / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
