"""The one exception type a user sees.

Every stage raises `SnnDeployError` for bad input: the message names the culprit (layer, file,
field) and what would fix it. The CLI turns it into one line on stderr and exit code 1; anything
else is a bug and keeps its traceback.
"""


class SnnDeployError(Exception):
    """Bad input or an impossible request, explained for the user."""
