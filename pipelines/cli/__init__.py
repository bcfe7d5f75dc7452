"""The `seslake` command: `main` builds the parser, one module per command group registers its commands.

A command's handler takes the parsed arguments and returns the exit code; a `CommandError` it raises is
printed as one line (`seslake: error: …`) with exit code 2."""


class CommandError(Exception):
    """A failure the user can act on; printed without a traceback."""
