"""One process at a time per folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from speechnas.errors import UserError
from speechnas.locking import exclusive


def test_a_held_folder_is_refused_by_name_and_free_again_after(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    with exclusive(folder, "search"):
        with pytest.raises(UserError, match=f"another search is running in {folder}"):
            with exclusive(folder, "search"):
                pass
    with exclusive(folder, "search"):  # released on leaving the block
        pass
