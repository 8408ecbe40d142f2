"""The command line's one user-facing error type, shared by its subcommand modules."""


class CliError(Exception):
    """Printed as one line, exit status 1."""
