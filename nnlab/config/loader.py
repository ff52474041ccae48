"""Reading config YAML safely: 1e-3 is a float, duplicate keys are errors, ``extends:`` chains
and ``--set`` overrides are merged, and every problem is one ConfigError line with file and line."""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Any

import yaml

from nnlab import files
from nnlab.errors import ConfigError
from nnlab.text import printable

# ---------------------------------------------------------------- YAML loading


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads 1e-3 as a float (YAML 1.1 wants '1.0e-3') and rejects duplicate keys."""


_Loader.yaml_implicit_resolvers = {k: list(v) for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
for _ch in list(_Loader.yaml_implicit_resolvers):
    _Loader.yaml_implicit_resolvers[_ch] = [
        (tag, rx) for tag, rx in _Loader.yaml_implicit_resolvers[_ch] if tag != "tag:yaml.org,2002:float"
    ]
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def _construct_mapping(loader, node, deep=False):
    seen = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if isinstance(key, (list, dict, set)):  # '? [a, b]': YAML allows it, a config never needs it
            raise yaml.constructor.ConstructorError(
                None, None, f"a key must be a plain name, got a {type(key).__name__}", key_node.start_mark)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key '{key}' (first at line {seen[key] + 1})", key_node.start_mark
            )
        seen[key] = key_node.start_mark.line
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def parse_yaml(text: str, source: str) -> Any:
    """Parse YAML text safely; errors become one ConfigError line with the line number."""
    try:
        value = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{printable(source)}:{mark.line + 1}" if mark else printable(source)
        problem = exc.problem or exc.context or "malformed YAML"
        raise ConfigError(f"{where}: {printable(problem)}") from None
    except yaml.reader.ReaderError as exc:  # a control character: YAML text must be printable
        raise ConfigError(f"{printable(source)}: character {exc.character!r} at position {exc.position} is not "
                          "allowed in YAML; a config is plain text") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{printable(source)}: malformed YAML ({printable(exc)})") from None
    except RecursionError:  # '[[[[...' thousands deep: PyYAML's parser recurses once per level
        raise ConfigError(f"{printable(source)}: nested too deeply for YAML (thousands of levels of [ or {{); "
                          "a config is a few levels deep") from None
    if files.too_many_values(value):  # every later step (merging, checking, quoting) would walk them all
        raise ConfigError(f"{printable(source)}: its YAML aliases ('*name') expand to more than "
                          f"{files.YAML_MAX_VALUES:,} values; a config holds a few dozen")
    return value


def read_yaml_file(path: Path, notes: list[str] | None = None) -> dict:
    """Read one YAML config file (a regular file of at most 1 MiB) into a mapping.

    An empty or comments-only file is an empty mapping; when ``notes`` is given a note
    saying so is appended to it.
    """
    try:
        raw = files.read_bytes_bounded(path, files.CONFIG_MAX_BYTES, "a YAML config file", ConfigError)
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}); a config must be a UTF-8 YAML file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc.strerror or exc})") from None
    data = parse_yaml(text, str(path))
    if data is None:
        data = {}
        if notes is not None:
            notes.append(f"{path} is empty; all defaults are used")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config must be a YAML mapping (key: value lines), got {type(data).__name__}")
    return data


def deep_merge(base: dict, over: dict) -> dict:
    """Recursively merge ``over`` onto ``base`` (mappings merge, everything else replaces)."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def load_with_extends(path: Path, chain: tuple = (), notes: list[str] | None = None) -> dict:
    """Read ``path`` and the files it extends, merged; a note goes to ``notes`` if ``path`` is empty."""
    path = path.resolve() if path.exists() else path
    if path in chain:
        cycle = " -> ".join(str(p) for p in (*chain, path))
        raise ConfigError(f"{chain[-1]}: extends: circular chain {cycle}")
    data = read_yaml_file(path, notes)
    parent = data.pop("extends", None)
    # relative data paths are relative to the file that names them
    absolutize_data_path(data, path.parent)
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise ConfigError(f"{path}: extends: must be a path to another YAML file, got {parent!r}")
    base_path = (path.parent / parent)
    if not base_path.exists():
        raise ConfigError(f"{path}: extends: file not found: {base_path}")
    return deep_merge(load_with_extends(base_path, (*chain, path)), data)


def absolutize_data_path(data: dict, folder: Path) -> None:
    d = data.get("data")
    if isinstance(d, dict) and isinstance(d.get("path"), str) and d["path"]:
        p = Path(os.path.expanduser(d["path"]))
        d["path"] = str(p if p.is_absolute() else (folder / p).resolve())
