"""Errors the command line turns into one clear line and an exit code, not a traceback."""

from __future__ import annotations

USAGE_EXIT_CODE = 2


class UserInputError(Exception):
    """Bad input from the user (a path, a layout, a file); reported as one line, exit 2."""

    exit_code = USAGE_EXIT_CODE


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
