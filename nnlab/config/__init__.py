"""Config stage: YAML -> a validated, fully resolved Config.

``loader`` reads YAML safely (``extends:``); ``schema`` declares the plain sections (their
signatures are the schema, read by nnlab.options), applies ``--set`` overrides and validates a whole
config at once; ``kinds`` is the one map from each kind of component to its registry and config key.
"""

from nnlab.config.loader import deep_merge, parse_yaml, read_yaml_file
from nnlab.config.schema import SCHEMAS, Config, apply_override, load_config, set_key, validate

__all__ = ["Config", "SCHEMAS", "apply_override", "deep_merge", "load_config", "parse_yaml", "read_yaml_file",
           "set_key", "validate"]
