"""User-facing errors.

Every error a user can cause (a bad file, a missing counterpart, an unknown option value) is raised as a
`DeblurError` whose message names the offending file or option and says how to fix it; the CLI prints it
without a traceback and exits with status 2.
"""


class DeblurError(Exception):
    """An error caused by input or configuration, with a message meant for the user."""


class ImageReadError(DeblurError):
    """An image file that is missing, unreadable, truncated or not an image."""


class OutputExistsError(DeblurError):
    """An output path that already exists while `overwrite` is off."""
