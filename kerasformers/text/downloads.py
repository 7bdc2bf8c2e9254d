"""The real corpora of the tasks and benchmarks: a local copy when there is one, else a checked download.

Each dataset is looked up, in order, in:

1. `../shared/data/<folder>/` relative to the working directory (the layout
   of this project's development machines; nothing is copied);
2. Keras' download cache (`~/.keras/datasets`, or `cache_dir`);
3. its public URL, fetched with `keras.utils.get_file` and checked against a
   pinned hash.

Without a network (or on a checksum mismatch) a `DownloadError` says so and
tells the user to pass `--data PATH` (or `--demo` for generated data).
"""

import dataclasses
import hashlib
import os
import pathlib
import zipfile

import keras




class DownloadError(ConnectionError):
    """A dataset could not be downloaded (no network, server error, bad checksum).

    The message names the dataset and its URL and says how to go on without
    the network: `--data PATH` (a local copy) or `--demo` (generated data).
    """


SHARED_DATA = pathlib.Path("..") / "shared" / "data"


@dataclasses.dataclass
class Dataset:
    """Where a corpus comes from and how to check it.

    Args:
        name: str. Human-readable name, for messages.
        url: str. Download URL (a file, or a zip archive holding `members`).
        file_hash: str or None. MD5 (32 hex digits) or SHA-256 (64) of the
            downloaded file, checked by `keras.utils.get_file`.
        members: dict `{key: archive member}` for zip archives (empty for a
            plain file, whose key is `"file"`).
        member_sha256: dict `{key: SHA-256}` of extracted members, checked
            after extraction (for archives whose own hash is not pinned).
        shared: dict `{key: path under ../shared/data}` of a local copy.
        data_hint: str. What `--data` expects, for the offline message.
    """

    name: str
    url: str
    file_hash: str = None
    members: dict = dataclasses.field(default_factory=dict)
    member_sha256: dict = dataclasses.field(default_factory=dict)
    shared: dict = dataclasses.field(default_factory=dict)
    data_hint: str = ""


# The keras.io "English-to-Spanish translation with a sequence-to-sequence Transformer" corpus.
# The archive's own hash is not published; the SHA-256 of `spa.txt` is that of the copy dated
# 2018-05-13 (118,964 pairs) that the keras.io example downloads.
TATOEBA = Dataset(
    name="Tatoeba English-Spanish pairs (spa-eng)",
    url="http://storage.googleapis.com/download.tensorflow.org/data/spa-eng.zip",
    members={"pairs": "spa-eng/spa.txt"},
    member_sha256={"pairs": "6ec60e212f812ee3430f7568ea6f33b6fb080e32193c5952e8da0ee8ba45574c"},
    shared={"pairs": "anki-spa-eng/spa.txt"},
    data_hint="a tab-separated file of 'English<TAB>Spanish' lines",
)

# GLUE SST-2 (the archive's MD5 is the one torchtext pins).
SST2 = Dataset(
    name="GLUE SST-2 sentiment",
    url="https://dl.fbaipublicfiles.com/glue/data/SST-2.zip",
    file_hash="9f81648d4199384278b86e315dac217c",
    members={"train": "SST-2/train.tsv", "dev": "SST-2/dev.tsv"},
    shared={"train": "sst2-glue/train.tsv", "dev": "sst2-glue/dev.tsv"},
    data_hint="a TSV file with a 'sentence<TAB>label' header",
)

# Karpathy's char-rnn tiny Shakespeare (1,115,394 characters).
SHAKESPEARE = Dataset(
    name="tiny Shakespeare",
    url="https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
    file_hash="86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
    shared={"file": "tinyshakespeare/input.txt"},
    data_hint="a plain UTF-8 text file",
)


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _offline_advice(dataset):
    return (
        f"Pass --data PATH to use a local copy ({dataset.data_hint}), "
        "or --demo to train on a small generated dataset that needs no download."
    )


def _local_copy(dataset, shared_dir):
    shared_dir = pathlib.Path(shared_dir)
    paths = {key: shared_dir / path for key, path in dataset.shared.items()}
    if paths and all(p.is_file() for p in paths.values()):
        return paths
    return None


def fetch(dataset, cache_dir=None, shared_dir=SHARED_DATA):
    """Returns `{key: pathlib.Path}` of the dataset's files: a local copy, the cache or a download.

    Args:
        dataset: a `Dataset` (`TATOEBA`, `SST2`, `SHAKESPEARE`).
        cache_dir: str or None. Keras' cache folder (default `~/.keras`).
        shared_dir: where a local copy may live. Defaults to `../shared/data`.

    Raises:
        DownloadError: no local copy and the download failed (no network,
            server error) or did not match its pinned hash.
    """
    local = _local_copy(dataset, shared_dir)
    if local is not None:
        return local
    fname = os.path.basename(dataset.url)
    try:
        path = keras.utils.get_file(fname=fname, origin=dataset.url, file_hash=dataset.file_hash, cache_dir=cache_dir)
    except ValueError as error:  # get_file's checksum mismatch
        raise DownloadError(
            f"The download of the {dataset.name} from {dataset.url} does not match its pinned checksum "
            f"({error}). {_offline_advice(dataset)}"
        ) from None
    except Exception as error:  # get_file raises a bare Exception("URL fetch failure on ...")
        raise DownloadError(
            f"Could not download the {dataset.name} from {dataset.url} ({error}); is there a network "
            f"connection? {_offline_advice(dataset)}"
        ) from None
    path = pathlib.Path(path)
    if not dataset.members:
        return {"file": path}
    target = path.parent / (path.name.split(".")[0] + "_members")
    files = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for key, member in dataset.members.items():
                destination = target / member
                if not destination.exists():
                    archive.extract(member, target)
                files[key] = destination
    except (zipfile.BadZipFile, KeyError) as error:
        path.unlink(missing_ok=True)
        raise DownloadError(f"The download of the {dataset.name} is not the expected archive ({error}). "
                            f"{_offline_advice(dataset)}") from None
    for key, expected in dataset.member_sha256.items():
        actual = _sha256(files[key])
        if actual != expected:
            # The archive has no pinned hash of its own, so keras.utils.get_file would hand back the same
            # cached zip: delete it and what was extracted from it, so that the next run downloads again.
            _forget(path, [files[k] for k in dataset.members])
            raise DownloadError(
                f"{files[key]} (from {dataset.url}) has SHA-256 {actual}, expected {expected}: the download is "
                f"corrupt or the file changed upstream. The cached archive {path} and the files extracted from "
                f"it were deleted, so running again downloads it afresh. {_offline_advice(dataset)}"
            )
    return files


def _forget(archive, extracted):
    """Deletes a cached archive and its extracted members (and their folders, when left empty)."""
    pathlib.Path(archive).unlink(missing_ok=True)
    for member in extracted:
        member = pathlib.Path(member)
        member.unlink(missing_ok=True)
        for folder in member.parents:
            if folder == pathlib.Path(archive).parent:
                break
            try:
                folder.rmdir()  # only if empty
            except OSError:
                break


def get_tatoeba(cache_dir=None, shared_dir=SHARED_DATA):
    """Path of Tatoeba's `spa.txt` (`English<TAB>Spanish` lines).

    Raises:
        DownloadError: see `fetch`.
    """
    return fetch(TATOEBA, cache_dir, shared_dir)["pairs"]


def get_sst2(cache_dir=None, shared_dir=SHARED_DATA):
    """Paths `(train.tsv, dev.tsv)` of GLUE SST-2.

    Raises:
        DownloadError: see `fetch`.
    """
    files = fetch(SST2, cache_dir, shared_dir)
    return files["train"], files["dev"]


def get_shakespeare(cache_dir=None, shared_dir=SHARED_DATA):
    """Path of tiny Shakespeare's `input.txt`.

    Raises:
        DownloadError: see `fetch`.
    """
    return fetch(SHAKESPEARE, cache_dir, shared_dir)["file"]
