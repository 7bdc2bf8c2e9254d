"""The offline path: a clear error that says to pass --data; local copies; checksums."""

import hashlib
import zipfile

import keras
import pytest

from kerasformers import cli
from kerasformers.tasks import run
from kerasformers.text import downloads
from kerasformers.tasks.errors import DownloadError


def offline(*args, **kwargs):
    raise Exception("URL fetch failure on http://example.invalid: None -- [Errno -2] Name or service not known")


@pytest.fixture
def no_network(monkeypatch, tmp_path):
    """No network and no ../shared/data (the working directory is a fresh temporary folder)."""
    monkeypatch.setattr(keras.utils, "get_file", offline)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


@pytest.mark.parametrize("getter", [downloads.get_tatoeba, downloads.get_sst2, downloads.get_shakespeare])
def test_offline_download_says_to_pass_data(no_network, getter):
    with pytest.raises(DownloadError, match="--data PATH") as error:
        getter()
    assert isinstance(error.value, ConnectionError)
    assert "--demo" in str(error.value) and "network" in str(error.value)


def test_unreachable_url_is_a_download_error(monkeypatch, tmp_path):
    dataset = downloads.Dataset(name="test corpus", url="http://127.0.0.1:9/corpus.txt", data_hint="a text file")
    with pytest.raises(DownloadError, match="Could not download the test corpus from http://127.0.0.1:9/corpus.txt"):
        downloads.fetch(dataset, cache_dir=str(tmp_path), shared_dir=tmp_path / "none")


@pytest.mark.parametrize("task", ["translation", "classification", "language-model", "lstm-transformer"])
def test_training_without_data_offline_fails_before_training(no_network, task):
    with pytest.raises(DownloadError, match="Pass --data PATH"):
        run(task, output="run", plots=False, **({} if task == "lstm-transformer" else {"export": False}))
    assert not (no_network / "run").exists()  # no empty run folder left behind


def test_cli_offline_is_one_line_with_exit_status_2(no_network, capsys):
    assert cli.main(["train", "translation", "--output", "run", "--no-plots", "--no-export"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("kerasformers: error: Could not download the Tatoeba")
    assert "--data PATH" in err[0]


def test_local_copy_is_used_without_network(monkeypatch, tmp_path):
    monkeypatch.setattr(keras.utils, "get_file", offline)
    (tmp_path / "sst2-glue").mkdir()
    for name in ("train.tsv", "dev.tsv"):
        (tmp_path / "sst2-glue" / name).write_text("sentence\tlabel\ngood\t1\n")
    train, dev = downloads.get_sst2(shared_dir=tmp_path)
    assert (train.name, dev.name) == ("train.tsv", "dev.tsv")


def _fake_get_file(archive):
    def get_file(fname, origin, file_hash=None, cache_dir=None):
        return str(archive)

    return get_file


def test_archive_member_checksum(monkeypatch, tmp_path):
    archive = tmp_path / "spa-eng.zip"
    content = b"Go.\tVe.\n"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("spa-eng/spa.txt", content)
    monkeypatch.setattr(keras.utils, "get_file", _fake_get_file(archive))
    with pytest.raises(DownloadError, match="SHA-256"):
        downloads.get_tatoeba(shared_dir=tmp_path / "none")
    assert not archive.exists()  # forgotten, so that the next get_file downloads it again
    with zipfile.ZipFile(archive, "w") as z:  # the new download
        z.writestr("spa-eng/spa.txt", content)
    good = downloads.Dataset(**{**downloads.TATOEBA.__dict__,
                                "member_sha256": {"pairs": hashlib.sha256(content).hexdigest()}})
    monkeypatch.setattr(downloads, "TATOEBA", good)
    assert downloads.get_tatoeba(shared_dir=tmp_path / "none").read_bytes() == content


def test_checksum_mismatch_of_download(monkeypatch, tmp_path):
    def corrupt(*args, **kwargs):
        raise ValueError("Incomplete or corrupted file detected.")

    monkeypatch.setattr(keras.utils, "get_file", corrupt)
    with pytest.raises(DownloadError, match="does not match its pinned checksum"):
        downloads.get_shakespeare(shared_dir=tmp_path)


def test_pinned_hashes_match_the_shared_copies():
    """The pinned hashes are those of the copies in ../shared/data (byte-identical to the upstream files)."""
    shared = downloads.SHARED_DATA.resolve()
    if not shared.is_dir():
        pytest.skip("../shared/data is absent")
    spa = shared / downloads.TATOEBA.shared["pairs"]
    assert downloads._sha256(spa) == downloads.TATOEBA.member_sha256["pairs"]
    text = shared / downloads.SHAKESPEARE.shared["file"]
    assert downloads._sha256(text) == downloads.SHAKESPEARE.file_hash


def _zip_bytes(member, content):
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr(member, content)
    return buffer.getvalue()


def test_failed_member_checksum_forgets_the_cached_archive_so_a_retry_downloads_again(monkeypatch, tmp_path):
    """Like keras.utils.get_file: a cached file without a pinned hash is returned as it is, else downloaded."""
    good, corrupt = b"Go.\tVe.\n", b"Go.\tVe.\ntruncated"
    cache = tmp_path / "datasets"
    cache.mkdir()
    archive = cache / "spa-eng.zip"
    archive.write_bytes(_zip_bytes("spa-eng/spa.txt", corrupt))  # a bad copy already in the cache
    downloads_made = []

    def get_file(fname, origin, file_hash=None, cache_dir=None):
        target = cache / fname
        if not target.exists():  # file_hash is None: only a missing file is downloaded
            downloads_made.append(origin)
            target.write_bytes(_zip_bytes("spa-eng/spa.txt", good))
        return str(target)

    monkeypatch.setattr(keras.utils, "get_file", get_file)
    pinned = downloads.Dataset(**{**downloads.TATOEBA.__dict__, "member_sha256": {"pairs": hashlib.sha256(good).hexdigest()}})
    monkeypatch.setattr(downloads, "TATOEBA", pinned)

    with pytest.raises(DownloadError, match="SHA-256") as error:
        downloads.get_tatoeba(shared_dir=tmp_path / "none")
    assert not archive.exists()  # the cached zip is gone ...
    assert not list(cache.rglob("spa.txt"))  # ... and so is what was extracted from it
    assert "were deleted" in str(error.value) and "Delete it to retry" not in str(error.value)
    assert downloads_made == []

    path = downloads.get_tatoeba(shared_dir=tmp_path / "none")  # the retry the message promises
    assert downloads_made == [downloads.TATOEBA.url]
    assert path.read_bytes() == good
