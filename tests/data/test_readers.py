from __future__ import annotations

import json
from pathlib import Path

import pytest

from speechnas.data.readers import READERS, detect_format, guess_format, read_corpus
from speechnas.data.readers.commonvoice import read_commonvoice
from speechnas.data.readers.kaldi import read_kaldi
from speechnas.data.readers.librispeech import read_librispeech
from speechnas.data.readers.nemo import read_nemo
from speechnas.errors import UserError

from ._corpora import make_commonvoice, make_kaldi, make_librispeech, make_nemo

# --- contract every reader meets ------------------------------------------------------------

MAKERS = {
    "nemo": make_nemo,
    "kaldi": make_kaldi,
    "librispeech": make_librispeech,
    "commonvoice": make_commonvoice,
}


@pytest.mark.parametrize("fmt", sorted(MAKERS))
def test_reader_contract(tmp_path: Path, fmt: str) -> None:
    made = MAKERS[fmt](tmp_path / "corpus")
    src = tmp_path / "corpus"
    assert detect_format(src) == fmt
    assert guess_format(made) == fmt
    result = READERS[fmt](src, language="xx")
    ids = [u.id for u in result.utterances]
    assert ids == sorted(ids) and len(set(ids)) == len(ids) and ids
    assert all(Path(u.audio_path).is_absolute() for u in result.utterances)
    assert result.format == fmt
    # deterministic
    assert READERS[fmt](src, language="xx") == result


def test_nemo(tmp_path: Path) -> None:
    result = read_nemo(make_nemo(tmp_path))
    by_id = {u.id: u for u in result.utterances}
    assert sorted(by_id) == ["a", "b", "cee", "gone"]
    assert by_id["a"].duration == pytest.approx(0.25)  # measured
    assert by_id["a"].language == "de" and by_id["b"].language == "en"
    assert by_id["b"].audio_path == str(tmp_path / "audio" / "b.wav")
    assert by_id["cee"].speaker == "cee"  # falls back to the id
    assert by_id["gone"].duration == 0.0
    assert [(p.utt_id, p.reason) for p in result.problems] == [("gone", "missing")]


def test_nemo_gz_and_folder(tmp_path: Path) -> None:
    make_nemo(tmp_path, gz=True)
    assert len(read_nemo(tmp_path).utterances) == 4


def test_nemo_bad_line_names_line(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text('{"audio_filepath": "a.wav", "text": "x"}\n{"text": "no path"}\n')
    with pytest.raises(UserError, match=r"m\.jsonl:2"):
        read_nemo(path)


def test_duplicate_ids_are_named(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    recs = [{"audio_filepath": f"{d}/x.wav", "duration": 1.0, "text": "t"} for d in "ab"]
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    with pytest.raises(UserError, match="duplicate utterance ids: x"):
        read_nemo(path)


def test_kaldi(tmp_path: Path) -> None:
    result = read_kaldi(make_kaldi(tmp_path / "k"), language="fr")
    u1, u2 = result.utterances
    assert (u1.id, u1.text, u1.speaker, u1.language) == ("u1", "HELLO WORLD", "spkA", "fr")
    assert u1.audio_path == str(tmp_path / "k" / "wav" / "u1.wav")
    assert u1.duration == pytest.approx(0.25) and u2.duration == pytest.approx(0.5)
    assert u2.text == "GOOD  BYE"


def test_kaldi_rejects_pipes_naming_the_line(tmp_path: Path) -> None:
    root = make_kaldi(tmp_path / "k")
    with open(root / "wav.scp", "a") as f:
        f.write("u3 sox in.sph -t wav - |\n")
    with pytest.raises(UserError, match=r"wav\.scp:3.*piped"):
        read_kaldi(root)


def test_kaldi_duplicate_ids(tmp_path: Path) -> None:
    root = make_kaldi(tmp_path / "k")
    with open(root / "wav.scp", "a") as f:
        f.write("u1 wav/u1.wav\n")
    with pytest.raises(UserError, match="u1"):
        read_kaldi(root)


def test_librispeech(tmp_path: Path) -> None:
    result = read_librispeech(make_librispeech(tmp_path / "ls"))
    assert [u.id for u in result.utterances] == ["19-198-0000", "19-198-0001", "26-495-0000"]
    first = result.utterances[0]
    assert (first.speaker, first.text, first.language) == ("19", "WORDS NUMBER 0", "en")
    assert result.utterances[1].duration == pytest.approx(0.5)
    # a folder holding subsets reads too
    assert detect_format(tmp_path) == "librispeech"
    assert len(read_librispeech(tmp_path).utterances) == 3


def test_librispeech_missing_flac_is_recorded(tmp_path: Path) -> None:
    root = make_librispeech(tmp_path / "ls")
    (root / "26" / "495" / "26-495-0000.flac").unlink()
    result = read_librispeech(root)
    assert len(result.utterances) == 3
    assert [(p.utt_id, p.reason) for p in result.problems] == [("26-495-0000", "missing")]


def test_commonvoice(tmp_path: Path) -> None:
    result = read_commonvoice(make_commonvoice(tmp_path / "cv"))
    u1, u2 = result.utterances
    assert (u1.id, u1.speaker, u1.language, u1.text) == (
        "common_voice_x_1",
        "c1",
        "de",
        "Guten Tag.",
    )
    assert u2.text == 'He said "hi".'
    assert u1.duration == pytest.approx(0.5)
    # another tsv, named by the user
    assert [u.id for u in read_commonvoice(tmp_path / "cv" / "train.tsv").utterances] == [
        "common_voice_x_2"
    ]


def test_commonvoice_language_argument(tmp_path: Path) -> None:
    make_commonvoice(tmp_path / "cv", locale=False)
    result = read_corpus(tmp_path / "cv", language="eo")
    assert {u.language for u in result.utterances} == {"eo"}


def test_unknown_format_and_missing_path_name_the_path(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(UserError, match="cannot tell the corpus format"):
        detect_format(tmp_path)
    with pytest.raises(UserError, match="no such file or folder: .*nowhere"):
        read_corpus(tmp_path / "nowhere")
    with pytest.raises(UserError, match=f"{tmp_path}.*unknown format 'bogus'"):
        read_corpus(tmp_path, format="bogus")


# --- a folder of corpora, one per language ---------------------------------------------------


def test_a_folder_of_language_folders_reads_as_one_corpus(tmp_path: Path) -> None:
    root = tmp_path / "cv"
    make_commonvoice(root / "fy-NL")
    make_kaldi(root / "de")
    (root / "notes").mkdir()  # holds no corpus: skipped
    assert detect_format(root) == "multilingual"
    result = read_corpus(root)
    assert result.format == "multilingual"
    ids = [u.id for u in result.utterances]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    de = read_kaldi(root / "de", language="de").utterances
    fy = read_commonvoice(root / "fy-NL", language="fy-NL").utterances
    assert sorted(result.utterances, key=lambda u: u.id) == sorted(de + fy, key=lambda u: u.id)
    # The folder names the language of records that do not name their own.
    assert {u.language for u in de} == {"de"}


def test_a_language_folder_record_keeps_its_own_language(tmp_path: Path) -> None:
    make_nemo(tmp_path / "cv" / "en")  # one record says "de"
    by_id = {u.id: u.language for u in read_corpus(tmp_path / "cv").utterances}
    assert by_id["a"] == "de" and by_id["b"] == "en"


def test_folder_names_that_are_not_languages() -> None:
    from speechnas.data.readers._common import is_language_tag

    for name in ("de", "cnh", "fy-NL", "rm-sursilv", "zh_CN"):
        assert is_language_tag(name), name
    for name in ("train", "dev", "dev-clean", "test-other", "wav", "raw", "audio", "103"):
        assert not is_language_tag(name), name


def test_a_corpus_split_in_folders_is_not_taken_for_languages(tmp_path: Path) -> None:
    make_nemo(tmp_path / "corpus" / "train")
    make_nemo(tmp_path / "corpus" / "dev")
    with pytest.raises(UserError, match="cannot tell the corpus format"):
        detect_format(tmp_path / "corpus")
    with pytest.raises(UserError, match="these are not: dev, train"):
        read_corpus(tmp_path / "corpus", format="multilingual")
    (tmp_path / "empty" / "de").mkdir(parents=True)
    with pytest.raises(UserError, match="no subfolder holds a corpus"):
        read_corpus(tmp_path / "empty", format="multilingual")


def test_ids_repeated_across_languages_are_named(tmp_path: Path) -> None:
    make_nemo(tmp_path / "cv" / "en")
    make_nemo(tmp_path / "cv" / "fr")
    with pytest.raises(
        UserError, match="utterance ids repeat across language folders: a \\(en/, fr/\\)"
    ):
        read_corpus(tmp_path / "cv")
