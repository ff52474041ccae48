"""Generate the documentation's tables of components from the registries.

    python -m nnlab.docs          print the tables
    python -m nnlab.docs --write  rewrite them in docs/configs.md (between the markers)

One table per kind of component, one row per option (a component without options has one row), so
no cell grows with the number of options.  tests/test_docs.py fails when docs/configs.md and the
registries disagree.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from nnlab.files import atomic_write

from nnlab.config.kinds import KINDS
from nnlab.text import shown

START, END = "<!-- components:start -->", "<!-- components:end -->"
TARGET = Path("docs") / "configs.md"  # relative to the repository's root


def cell(text: str) -> str:
    """Text for a markdown table cell: a '|' would end the cell."""
    return str(text).replace("|", "\\|")


def components_markdown() -> str:
    out = []
    for kind in KINDS:
        reg, key = kind.registry, kind.key
        out.append(f"### {reg.plural.capitalize()}\n")
        path, _, rest = key.partition(" (")
        out.append(f"Config key: `{path}`" + (f" ({rest}" if rest else "") + ".\n")
        out.append("| name | what it is | option | allowed values | default |")
        out.append("|---|---|---|---|---|")
        for comp in reg:
            first = f"| `{comp.name}` | {cell(comp.summary)} "
            if not comp.options:
                out.append(first + "| - | | |")
                continue
            for i, o in enumerate(comp.options.values()):
                default = "required" if o.required else f"`{shown(o.default)}`"
                out.append((first if i == 0 else "| | ") + f"| `{o.name}` | {cell(o.type_text())} | {default} |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def generated_block(text: str) -> str:
    """The text between the markers ('' when they are missing)."""
    m = re.search(re.escape(START) + r"\n(.*?)" + re.escape(END), text, re.S)
    return m.group(1) if m else ""


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    table = components_markdown()
    if "--write" in argv:
        path = Path(__file__).resolve().parents[1] / TARGET
        text = path.read_text()
        if not generated_block(text) and START not in text:
            sys.exit(f"{TARGET}: no {START} ... {END} markers to write between")
        new = re.sub(re.escape(START) + r"\n.*?" + re.escape(END), lambda _: f"{START}\n{table}{END}", text,
                     flags=re.S)
        atomic_write(path, new)  # the one write path: never through a link, never half written
    else:
        sys.stdout.write(table)


if __name__ == "__main__":
    main()
