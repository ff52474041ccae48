"""Generate the README's table of components from the registries.

    python -m nnlab.docs          print the tables
    python -m nnlab.docs --write  rewrite them in README.md (between the markers)

tests/test_readme.py fails when README.md and the registries disagree.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from nnlab.config.kinds import KINDS
from nnlab.options import component_options_text

START, END = "<!-- components:start -->", "<!-- components:end -->"


def components_markdown() -> str:
    out = []
    for kind in KINDS:
        reg, key = kind.registry, kind.key
        out.append(f"**{reg.plural.capitalize()}** (`{key}`)\n")
        out.append("| name | options (default) | what it is |")
        out.append("|---|---|---|")
        for comp in reg:
            opts = component_options_text(comp).replace("|", "\\|")
            out.append(f"| `{comp.name}` | {opts} | {comp.summary.replace('|', '/')} |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def readme_block(text: str) -> str:
    m = re.search(re.escape(START) + r"\n(.*?)" + re.escape(END), text, re.S)
    return m.group(1) if m else ""


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    table = components_markdown()
    if "--write" in argv:
        path = Path(__file__).resolve().parents[1] / "README.md"
        text = path.read_text()
        new = re.sub(re.escape(START) + r"\n.*?" + re.escape(END), lambda _: f"{START}\n{table}{END}", text,
                     flags=re.S)
        path.write_text(new)
    else:
        sys.stdout.write(table)


if __name__ == "__main__":
    main()
