"""The one error type users see."""

from __future__ import annotations

from pathlib import Path


class CalmError(Exception):
    """A problem with the user's input, reported as one line.

    The CLI prints ``error: <message>`` and exits with status 2; the napari
    docks show the message as a notification. The message should name the
    file (when there is one) and the problem.

    Parameters
    ----------
    message : str
        What is wrong, in one line.
    path : str or Path, optional
        The file or folder the problem is in; prefixed to the message.
    """

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        self.path = None if path is None else Path(path)
        text = message if path is None else f"{path}: {message}"
        super().__init__(" ".join(str(text).split()))
