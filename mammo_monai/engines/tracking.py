"""Experiment tracking for the bundles' training configs: where MLflow keeps its runs.

The configs used to build the URI in a ``$`` expression that also created the folder (``os.makedirs`` inside a
string concatenation); the folder creation is a library call now, tested, and the config says only:

.. code-block:: json

    "mlflow_tracking_uri": "$mammo_monai.engines.mlflow_tracking_uri(@output_dir)",
"""

from __future__ import annotations

import os

__all__ = ["MLFLOW_DB", "mlflow_tracking_uri"]

#: the SQLite file MLflow writes its runs to, in the bundle's output folder
MLFLOW_DB = "mlruns.db"


def mlflow_tracking_uri(output_dir: str | os.PathLike, db_name: str = MLFLOW_DB) -> str:
    """The ``sqlite:///`` tracking URI of a SQLite MLflow store in ``output_dir``, creating the folder (MLflow's
    SQLite store does not create it, and the ``MLFlowHandler`` opens it before any other handler writes there).

    Args:
        output_dir: the bundle's output folder (relative paths are made absolute: the URI must not depend on the
            working folder of a later ``mlflow ui``).
        db_name: the SQLite file name.

    Returns:
        ``"sqlite:///" + <absolute output_dir>/<db_name>``.

    Example:
        >>> import tempfile
        >>> scratch = tempfile.TemporaryDirectory()
        >>> uri = mlflow_tracking_uri(os.path.join(scratch.name, "models", "run1"))
        >>> uri == "sqlite:///" + os.path.join(scratch.name, "models", "run1", "mlruns.db")
        True
        >>> os.path.isdir(os.path.join(scratch.name, "models", "run1"))
        True
        >>> scratch.cleanup()
    """
    folder = os.path.abspath(output_dir)
    os.makedirs(folder, exist_ok=True)
    return "sqlite:///" + os.path.join(folder, db_name)
