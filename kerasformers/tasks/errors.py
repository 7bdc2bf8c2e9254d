"""The errors a task run reports to its user in one line (the CLI exits with status 2 on them)."""

import contextlib
import os
import pathlib
import sys

from kerasformers.text.downloads import DownloadError  # noqa: F401  (re-exported: a user error)


class MissingExtraError(ImportError):
    """An optional dependency is missing; the message gives the `pip install` line."""


def require(module, extra, purpose):
    """Imports `module` or raises `MissingExtraError` naming the extra that installs it.

    Example:
    >>> require("json", "plot", "plots").__name__
    'json'
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(
            f"{purpose} needs the `{module.split('.')[0]}` package: pip install \"kerasformers[{extra}]\""
        ) from None


USER_ERROR_STATUS = 2
PACKAGE_DIR = pathlib.Path(__file__).resolve().parents[1]  # kerasformers/


def is_user_error(error):
    """True for an error about the user's input, which deserves one line and no traceback.

    Those are `DownloadError` (no network: pass `--data`), `MissingExtraError`
    (a `pip install` line), and the `OSError`s (missing file, existing output
    folder, ...) and `ValueError`s that kerasformers raises itself when it
    checks data, options and paths. The same types raised inside Keras,
    TensorFlow or NumPy mean a bug (ours or theirs): they keep their traceback.
    """
    if isinstance(error, (DownloadError, MissingExtraError)):
        return True
    if not isinstance(error, (OSError, ValueError)):
        return False
    frame = error.__traceback__
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    if frame is None:
        return False
    raised_in = pathlib.Path(frame.tb_frame.f_code.co_filename).resolve()
    return PACKAGE_DIR in raised_in.parents


@contextlib.contextmanager
def user_errors(show_traceback=False, program="kerasformers"):
    """Turns user errors (`is_user_error`) into one line on stderr and `SystemExit(2)`; other errors propagate.

    With `show_traceback` (`--traceback`) or the environment variable
    `KERASFORMERS_TRACEBACK=1`, user errors propagate with their traceback too.
    """
    try:
        yield
    except Exception as error:
        if not is_user_error(error) or show_traceback or os.environ.get("KERASFORMERS_TRACEBACK"):
            raise
        message = " ".join(str(error).split()) or type(error).__name__
        print(f"{program}: error: {message}", file=sys.stderr)
        raise SystemExit(USER_ERROR_STATUS) from None
