"""No phone-home by default: MLflow's usage telemetry and Prefect's client analytics off.

MLflow 3.17 starts a telemetry client at `import mlflow` (`mlflow/telemetry/client.py`); on the
first tracked API call it fetches a config from MLflow's telemetry host and then posts usage
records to it. It stays off when `MLFLOW_DISABLE_TELEMETRY=true` or `DO_NOT_TRACK=true`
(`mlflow/telemetry/utils.py: is_telemetry_disabled`). Prefect 3's client analytics honour
`DO_NOT_TRACK` too (`prefect/_internal/analytics/enabled.py`).

`disable_telemetry()` sets both with `setdefault` (so a user who exports
`MLFLOW_DISABLE_TELEMETRY=false DO_NOT_TRACK=false` opts in) and, when MLflow was already
imported, re-runs MLflow's own `set_telemetry_client()` so the client built at import is
dropped before it sent anything. Importing this module imports nothing heavy: call it first
thing in the CLI's `main()` and in the flows.
"""

from __future__ import annotations

import os
import sys

OFF = {
    "MLFLOW_DISABLE_TELEMETRY": "true",  # MLflow usage telemetry
    "DO_NOT_TRACK": "true",  # the cross-tool convention: MLflow and Prefect client analytics
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",  # the (temporary) Prefect server's analytics
}


def disable_telemetry() -> None:
    """Turn phone-home off unless the user set these variables; idempotent and cheap."""
    for name, value in OFF.items():
        os.environ.setdefault(name, value)
    if "mlflow.telemetry" in sys.modules:
        from mlflow.telemetry import get_telemetry_client, set_telemetry_client

        if get_telemetry_client() is not None:
            set_telemetry_client()  # re-checks the variables: None when disabled
