"""Errors raised by library code. The CLI turns them into one-line `Error: ...` messages."""


class FileFormatError(ValueError):
    """An input file is malformed; the message names the file, record and problem."""


class ConfigError(ValueError):
    """A model or run configuration is invalid; the message names the field."""
