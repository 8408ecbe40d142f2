"""The command line's one user-facing error type, shared by its subcommand modules."""

from common.errors import UserError


class CliError(UserError):
    """Printed as one line, exit status 1."""
