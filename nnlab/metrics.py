"""The names of what a run records, in one place every stage may import (no heavy imports here).

METRICS: the per-epoch metrics a run can be judged by (``--metric``, early stopping, plateau).
METRIC_COLUMNS: the columns of a run's metrics.csv, in order.  raw_val_loss and raw_val_acc (the live
weights' validation metrics when train.averaging evaluates averaged ones; empty without averaging) came
last, later: run folders written before them lack the columns, which readers treat as empty.
For a ``typing.Literal`` of the metrics: ``Literal[METRICS]`` (a tuple subscript spreads).
"""

METRICS = ("val_acc", "val_loss", "train_acc", "train_loss")
METRIC_COLUMNS = ("epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "seconds",
                  "raw_val_loss", "raw_val_acc")
