"""The local Spark defaults, who overrides them, and Spark failures as one line and exit 1 (no Spark needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from churn.console import user_errors
from features.spark_conf import LOCAL_DEFAULTS, local_conf, spark_defaults_file, spark_defaults_keys, spark_failure


def test_defaults_fail_fast_on_a_small_machine() -> None:
    """It starts local Spark with a bounded driver, few partitions, Arrow, and JVMs that exit on OOM."""
    conf = local_conf()
    assert conf["spark.master"] == "local[*]" and conf["spark.driver.memory"] == "2g"
    assert conf["spark.sql.shuffle.partitions"] == "4" and conf["spark.sql.execution.arrow.pyspark.enabled"] == "true"
    for side in ("driver", "executor"):
        options = conf[f"spark.{side}.extraJavaOptions"].split()
        assert {"-XX:+ExitOnOutOfMemoryError", "-Duser.timezone=UTC"} <= set(options)


def test_settings_override_defaults_and_spark_own_config_wins() -> None:
    """The [spark] table replaces a default; a key Spark's own configuration sets is left to Spark."""
    conf = local_conf(
        {"spark.driver.memory": "6g", "spark.executor.cores": "1"}, {"spark.master", "spark.executor.cores"}
    )
    assert conf["spark.driver.memory"] == "6g"
    assert "spark.master" not in conf and "spark.executor.cores" not in conf
    assert conf["spark.ui.enabled"] == LOCAL_DEFAULTS["spark.ui.enabled"]


def test_spark_defaults_conf_keys(tmp_path: Path) -> None:
    """It reads the keys of spark-defaults.conf (space, '=' or ':' separated; comments skipped)."""
    (tmp_path / "spark-defaults.conf").write_text(
        "# comment\nspark.master spark://host:7077\nspark.driver.memory=8g\n\n  spark.ui.enabled: true\n! x y\n"
    )
    found = spark_defaults_file({"SPARK_CONF_DIR": str(tmp_path)})
    assert found is not None
    assert spark_defaults_keys(found.read_text()) == {"spark.master", "spark.driver.memory", "spark.ui.enabled"}
    assert spark_defaults_file({"SPARK_HOME": str(tmp_path)}) is None  # $SPARK_HOME/conf has none
    assert spark_defaults_file({}) is None


def _error(module: str, text: str) -> Exception:
    kind = type("Py4JJavaError", (Exception,), {"__module__": module})
    return kind(text)


JAVA_TEXT = (
    "An error occurred while calling o411.getResult.\n"
    ": org.apache.spark.SparkException: Exception thrown in awaitResult: \n"
    "\tat org.apache.spark.util.SparkThreadUtils$.awaitResult(SparkThreadUtils.scala:56)\n"
    "Caused by: org.apache.spark.SparkException: Job aborted due to stage failure: Total size of serialized "
    "results of 2 tasks (1690.7 KiB) is bigger than spark.driver.maxResultSize (1024.0 KiB)\n"
    "\tat org.apache.spark.scheduler.DAGScheduler.failJobAndIndependentStages(DAGScheduler.scala:2935)\n"
)


def test_spark_failure_is_one_line_with_the_cause() -> None:
    """It reports a Py4J or PySpark error as one line with Spark's root cause, and nothing else as Spark's."""
    line = spark_failure(_error("py4j.protocol", JAVA_TEXT))
    assert line is not None and "\n" not in line
    assert line.startswith("Spark failed (Py4JJavaError): ") and line.endswith(
        "spark.driver.maxResultSize (1024.0 KiB)"
    )
    gone = spark_failure(_error("py4j.protocol", "Answer from Java side is empty"))
    assert gone == "Spark failed (Py4JJavaError): Answer from Java side is empty"
    assert spark_failure(_error("pyspark.errors.exceptions.captured", "[TABLE_OR_VIEW_NOT_FOUND] x\nplan")) is not None
    assert spark_failure(RuntimeError("not Spark")) is None


def test_a_gone_jvm_is_a_spark_failure() -> None:
    """A connection error raised inside PySpark or Py4J code (the JVM exited) is reported as Spark's; elsewhere not."""
    namespace: dict[str, object] = {"__name__": "py4j.clientserver"}
    exec("def call():\n    raise ConnectionRefusedError(111, 'Connection refused')", namespace)  # noqa: S102 - a frame in py4j
    with pytest.raises(ConnectionRefusedError) as raised:
        namespace["call"]()  # type: ignore[operator]
    line = spark_failure(raised.value)
    assert line is not None and line.startswith("Spark failed: its JVM is gone (ConnectionRefusedError")
    assert "spark.driver.memory" in line
    assert spark_failure(ConnectionRefusedError(111, "Connection refused")) is None


def test_cli_exits_1_with_one_line_on_a_spark_failure(capsys: pytest.CaptureFixture[str]) -> None:
    """A command that fails on Spark exits 1 with one line, no traceback; other errors are not swallowed."""
    with pytest.raises(typer.Exit) as exit_info, user_errors():
        raise _error("py4j.protocol", JAVA_TEXT)
    assert exit_info.value.exit_code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "maxResultSize" in err and "Traceback" not in err
    with pytest.raises(KeyError), user_errors():
        raise KeyError("a bug stays a bug")
