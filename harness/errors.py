"""The one error tree of kibench; every class carries the process exit code it maps to.

In: raised anywhere in the harness.  Out: ``cli.main`` prints ``str(error)`` (never a traceback)
and exits with ``error.exit_code``.

    HarnessError (3)
    ├── InputError (2)                 bad input a user can fix
    │   ├── ScenarioError (2)          scenario file: names file, field path and fix
    │   ├── ThresholdError (2)         an SLO expression that does not parse
    │   └── ClusterRefused (2)         kind kubernetes: not the context the scenario names, or an object that is
    │                                  not this run's (kibench neither creates, changes nor deletes it)
    ├── PlatformError (3)              the platform or infrastructure failed
    │   └── PlatformTimeout (3)        the platform did not get ready in time
    ├── LoadError (3)                  the load process failed
    ├── RunFolderError (2)             a run folder is missing files, is damaged or has the wrong schema
    ├── UnlikeRunsError (2)            kibench compare: the runs differ in schema, scenario or workload
    └── Interrupted (130)              SIGINT/SIGTERM; partial results are kept

Exit codes 1 and 4 are verdicts, not errors: they are returned, not raised.

    0    every SLO holds (pass)
    1    the service missed an SLO (or a regression gate failed)
    4    a self-check failed: the measurement is not trustworthy (the load generator or the platform
         was the bottleneck, arrivals were not sent); it wins over 1 (harness/analysis/verdict.py)
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_SLO_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_PLATFORM = 3
EXIT_SELF_CHECK = 4
EXIT_INTERRUPTED = 130


class HarnessError(Exception):
    """Root of every error a user can cause or meet."""

    exit_code: int = EXIT_PLATFORM


class InputError(HarnessError):
    """Bad input (a file, a flag, a field); the message says what, where and how to fix it."""

    exit_code = EXIT_BAD_INPUT


class ScenarioError(InputError):
    """A scenario file that cannot be read or does not validate."""

    def __init__(self, path: str, field: str, problem: str) -> None:
        self.path, self.field, self.problem = path, field, problem
        where = f"{path}: {field}" if field else path
        super().__init__(f"{where}: {problem}")


class ThresholdError(InputError):
    """An SLO threshold expression that does not parse or does not fit its metric."""


class ClusterRefused(InputError):
    """kibench refuses to act on a cluster: its kubeconfig does not select the context the scenario names,
    the namespace named does not exist, or an object kibench would create, change or delete is not this
    run's (it lacks the run's label).  Nothing was touched; the message names the object and the fix."""


class PlatformError(HarnessError):
    """The platform (local daemon or cluster) failed or refused an operation."""

    exit_code = EXIT_PLATFORM


class PlatformTimeout(PlatformError):
    """The platform did not reach the expected state in time."""


class LoadError(HarnessError):
    """The load-generator process failed."""

    exit_code = EXIT_PLATFORM


class RunFolderError(InputError):
    """A run folder that is missing, incomplete or of another schema_version."""


class UnlikeRunsError(InputError):
    """Runs that ``kibench compare`` refuses to compare (the message names every difference)."""


class Interrupted(HarnessError):
    """The run was interrupted by a signal; partial results were kept."""

    exit_code = EXIT_INTERRUPTED
