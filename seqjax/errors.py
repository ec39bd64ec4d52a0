"""The two kinds of failure a command reports in one line: the user's input, or a run that cannot go on.

    UserError  a spec, table or argument that cannot be used: exit code 2, nothing written
    RunError   a step that cannot run as things are (no checkpoint yet, a NaN loss, process 0 failed): exit code 1
    Stopped    SIGTERM stopped training after saving a checkpoint: exit code 143

Each module's own errors subclass one of these, so the command line needs to know only these two.
"""


class UserError(ValueError):
    """Bad input; the message is one line naming the file, column or spec key, the value and what is allowed."""


class RunError(RuntimeError):
    """A step cannot run; the message is one line naming the path or step and what to do."""


class Stopped(RunError):
    """A command stopped on SIGTERM after saving its work; running it again continues."""
