"""Config stage: YAML -> a validated, fully resolved Config.

``loader`` reads YAML safely (``extends:``, ``--set``), ``registry`` turns
signatures into schemas ("the signature is the schema"), ``schema`` declares the
plain sections and validates a whole config at once.
"""

from nnlab.config.loader import apply_override, deep_merge, parse_yaml, read_yaml_file
from nnlab.config.schema import SCHEMAS, Config, load_config, validate

__all__ = ["Config", "SCHEMAS", "apply_override", "deep_merge", "load_config", "parse_yaml", "read_yaml_file",
           "validate"]
