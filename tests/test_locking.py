"""One process at a time per folder; the holder may enter again."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from speechnas.locking import exclusive

_OTHER = """
import sys
from pathlib import Path
from speechnas.errors import UserError
from speechnas.locking import exclusive
try:
    with exclusive(Path(sys.argv[1]), "search"):
        print("held")
except UserError as e:
    print(e)
"""


def _other_process(folder: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", _OTHER, str(folder)], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_a_held_folder_is_refused_to_another_process_by_name_and_free_after(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "run"
    with exclusive(folder, "search"):
        assert _other_process(folder) == f"another search is running in {folder}"
    assert _other_process(folder) == "held"  # released on leaving the block


def test_the_holder_enters_again_and_keeps_the_folder_until_the_outer_block_ends(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "run"
    with exclusive(folder, "search"):
        with exclusive(folder / ".." / "run", "final stage"):  # the same folder, re-entered
            pass
        assert _other_process(folder).startswith("another search is running")
    assert _other_process(folder) == "held"
