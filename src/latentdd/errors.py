"""User-facing errors.

A :class:`UserError` means the *user* gave something latentdd cannot use (an unknown
name, a missing folder, a corrupt file).  The CLI prints its message as one line and
exits non-zero without a traceback; anything else is a bug and keeps its traceback.
Messages should name the problem *and* the fix.
"""


class UserError(Exception):
    """A problem with the user's input; the message names the problem and the fix."""
