"""The kinds of component and the config key each one fills (no imports: the CLI's --help reads it)."""

# kind -> (module, registry attribute, config key)
KINDS = {
    "dataset": ("nnlab.data", "datasets", "data.name (options under data:)"),
    "preprocessor": ("nnlab.data", "preprocessors", "data.preprocess"),
    "initializer": ("nnlab.components.initializers", "initializers", "model.init"),
    "activation": ("nnlab.components.activations", "activations", "model.activation"),
    "optimizer": ("nnlab.components.optimizers", "optimizers", "train.optimizer"),
    "schedule": ("nnlab.components.schedules", "schedules", "train.schedule"),
    "averaging": ("nnlab.train.averaging", "methods", "train.averaging (picked by method:)"),
}


def registry_for_key(key: str):
    """The registry of the component that config key ``key`` names (e.g. train.optimizer), or None."""
    import importlib

    for mod, attr, k in KINDS.values():
        if k == key:
            return getattr(importlib.import_module(mod), attr)
    return None
