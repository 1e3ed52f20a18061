"""The configuration of a local Spark session, as data, and the one line a Spark failure is reported as.

The defaults suit a small machine (2 cores, a few GB for the driver) and make a failing run end
instead of hang: ``-XX:+ExitOnOutOfMemoryError`` ends the JVM at its first ``OutOfMemoryError``
(by default a JVM may thrash in garbage collection, or keep running with a dead thread, for a long
time). ``spark.driver.memory`` only takes effect when it is set before the driver's JVM starts, so
these values go into the builder of a *new* local session; an active session (``spark-submit``,
Databricks, a notebook) is reused as it is.

Who wins, highest first:

1. Spark's own configuration: an active session, ``spark-submit --conf``, ``spark-defaults.conf``
   (in ``$SPARK_CONF_DIR``, else ``$SPARK_HOME/conf``);
2. the ``[spark]`` table of the settings file (:attr:`features.settings.Settings.spark`);
3. :data:`LOCAL_DEFAULTS`.

Nothing here imports PySpark: the default install has no Spark.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Mapping
from pathlib import Path

# `-Duser.timezone=UTC` pins the JVMs' zone (the session zone is set as well); the OOM flag makes
# an out-of-memory driver or executor exit instead of hang (measured: 25 minutes of hanging after
# a heap error on a 400-account world).
JAVA_OPTIONS = "-Duser.timezone=UTC -XX:+ExitOnOutOfMemoryError"

LOCAL_DEFAULTS: Mapping[str, str] = {
    "spark.master": "local[*]",
    "spark.app.name": "churn",
    "spark.driver.memory": "2g",  # the JVM heap; Python workers live outside it
    "spark.driver.maxResultSize": "512m",  # a collect bigger than this fails at once instead of exhausting the heap
    "spark.sql.shuffle.partitions": "4",  # 200 (Spark's default) tiny tasks cost more than they save on 2 cores
    "spark.sql.adaptive.enabled": "true",
    # The feature query joins dozens of per-account parts to the snapshot spine; Spark's size
    # estimates of such aggregates are high, so at its 10 MB default most joins shuffle. Broadcast
    # up to 128 MB: 40 s -> 25 s for the usage signals of a 1,500-account world.
    "spark.sql.autoBroadcastJoinThreshold": "128m",
    "spark.sql.execution.arrow.pyspark.enabled": "true",  # pandas <-> Spark through Arrow, not pickled rows
    "spark.ui.enabled": "false",
    # Spark's WARN/ERROR logs print Java stack traces on stderr; a failure is reported as one line
    # by the CLI (spark_failure). "WARN" or "INFO" in [spark] brings the logs back.
    "spark.log.level": "ERROR",
    "spark.ui.showConsoleProgress": "false",  # the CLI draws its own progress bar
    "spark.sql.session.timeZone": "UTC",
    "spark.driver.extraJavaOptions": JAVA_OPTIONS,
    "spark.executor.extraJavaOptions": JAVA_OPTIONS,
}

SPARK_PACKAGES = ("pyspark", "py4j")

# Runtime SQL settings a session enforces whatever its origin (see features.engine.spark_session).
SESSION_SETTINGS: Mapping[str, str] = {"spark.sql.session.timeZone": "UTC"}


def local_conf(overrides: Mapping[str, str] = {}, spark_own: Collection[str] = ()) -> dict[str, str]:
    """The builder configuration of a new local session.

    ``overrides`` (the settings file's ``[spark]`` table) replace defaults; keys in ``spark_own``
    (set by Spark's own configuration) are left out, so Spark's value stands.
    """
    merged = {**LOCAL_DEFAULTS, **overrides}
    return {key: value for key, value in merged.items() if key not in spark_own}


def spark_defaults_file(environ: Mapping[str, str] = os.environ) -> Path | None:
    """The ``spark-defaults.conf`` a local ``spark-submit`` reads, if there is one."""
    folder = environ.get("SPARK_CONF_DIR") or (
        str(Path(environ["SPARK_HOME"]) / "conf") if environ.get("SPARK_HOME") else None
    )
    if folder is None:
        return None
    path = Path(folder) / "spark-defaults.conf"
    return path if path.is_file() else None


def spark_defaults_keys(text: str) -> set[str]:
    """The keys a ``spark-defaults.conf`` sets (a Java properties file: ``key value`` or ``key=value``)."""
    keys = set()
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "!")):
            keys.add(re.split(r"[\s=:]", line, maxsplit=1)[0])
    return keys


def spark_failure(exc: BaseException) -> str | None:
    """One line saying why Spark failed, or None when ``exc`` is not a Spark failure.

    A Spark failure is an exception of PySpark (``AnalysisException``, ``PySparkException`` and
    the rest) or of Py4J (the JVM failed or is gone: ``Py4JJavaError``, ``Py4JNetworkError``);
    told by its module so that this needs no PySpark import.
    """
    kinds = [k for k in type(exc).__mro__ if k.__module__.split(".")[0] in SPARK_PACKAGES]
    if not kinds:
        if isinstance(exc, ConnectionError | EOFError) and _raised_in_spark(exc):
            # The JVM died (with -XX:+ExitOnOutOfMemoryError: out of memory) while PySpark read from it.
            return (
                f"Spark failed: its JVM is gone ({type(exc).__name__}: {exc}); if it ran out of memory "
                '(see "OutOfMemoryError" above), raise spark.driver.memory (settings file or spark-submit --conf)'
            )
        return None
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    # A Py4JJavaError's text is "An error occurred while calling o42.x.\n: java...Exception: what\n\tat ...",
    # often followed by "Caused by: ..." lines: the last cause says why, else the Java exception's line.
    causes = [line.removeprefix("Caused by:").strip() for line in lines if line.startswith("Caused by:")]
    java = next((line.lstrip(": ") for line in lines if line.startswith(": ")), None)
    reason = (causes[-1] if causes else None) or java or (lines[0] if lines else "no message")
    if len(reason) > 300:
        reason = reason[:297] + "..."
    return f"Spark failed ({type(exc).__name__}): {reason}"


def _raised_in_spark(exc: BaseException) -> bool:
    """Whether a frame of the traceback is PySpark's or Py4J's code."""
    tb = exc.__traceback__
    while tb is not None:
        if str(tb.tb_frame.f_globals.get("__name__", "")).split(".")[0] in SPARK_PACKAGES:
            return True
        tb = tb.tb_next
    return False
