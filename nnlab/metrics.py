"""The names of the recorded metrics, in one place every stage may import (no heavy imports)."""

# the metrics a run records per epoch and that early stopping, plateau, compare and sweeps can name
METRICS = ("val_acc", "val_loss", "train_acc", "train_loss")
# the columns of metrics.csv, in order
METRIC_COLUMNS = ["epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "seconds"]
