"""Runs and sweeps into the dashboards users keep open: TensorBoard's event files (nnlab.export.tensorboard_events)
and an MLflow tracking store (nnlab.export.mlflow_store), both optional dependencies; what is exported is read
from the run and sweep folders (nnlab.export.items).  ``nnlab export tensorboard|mlflow`` (docs/export.md)."""
