"""The errors a task run reports to its user in one line (the CLI exits with status 2 on them)."""

import contextlib
import os
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


# What the CLI and the example scripts turn into one line on stderr and exit status 2:
# bad or missing data, unknown presets, existing outputs, no network, missing extras.
USER_ERRORS = (OSError, ValueError, MissingExtraError)
USER_ERROR_STATUS = 2


@contextlib.contextmanager
def user_errors(show_traceback=False, program="kerasformers"):
    """Turns user errors into one line on stderr and `SystemExit(2)` (the CLI and the example scripts).

    User errors: missing/empty/malformed data (`FileNotFoundError`,
    `ValueError`), existing outputs (`FileExistsError`), no network
    (`ConnectionError`), a missing optional dependency (`MissingExtraError`).
    With `show_traceback` (`--traceback`) or the environment variable
    `KERASFORMERS_TRACEBACK=1` they propagate with their traceback instead.
    """
    try:
        yield
    except USER_ERRORS as error:
        if show_traceback or os.environ.get("KERASFORMERS_TRACEBACK"):
            raise
        message = " ".join(str(error).split()) or type(error).__name__
        print(f"{program}: error: {message}", file=sys.stderr)
        raise SystemExit(USER_ERROR_STATUS) from None
