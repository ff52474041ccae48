"""The claims gallery as a file: markdown (docs/claims.md, its figures in a folder beside it) or one
self-contained HTML page, chosen by the file's ending."""

from __future__ import annotations

import os
from pathlib import Path

from nnlab.claims.gallery import Result, markdown, missing_runs, read_results
from nnlab.errors import OutputError
from nnlab.claims.html import render_page
from nnlab.files import atomic_write


def write_report(out, md_path, figures: bool = True, ids: set | None = None
                 ) -> tuple[Path, list[Result], list[str]]:
    out, md_path = Path(out), Path(md_path)
    figures_dir = md_path.parent / md_path.stem
    if md_path.suffix.lower() not in (".html", ".htm") and figures and (os.path.islink(figures_dir) or (
            os.path.lexists(figures_dir) and not figures_dir.is_dir())):
        raise OutputError(f"{figures_dir}: is {'a symbolic link' if os.path.islink(figures_dir) else 'a file'}, where "
                          f"the page's figures go (a folder named as the page); choose another -o")
    results, notes = read_results(out, ids)
    for r in results:
        short = missing_runs(r)
        if short:
            notes.append(f"{r.claim['id']}: {short}")
    md_path.parent.mkdir(parents=True, exist_ok=True)
    if md_path.suffix.lower() in (".html", ".htm"):  # one self-contained page, the figures inline
        atomic_write(md_path, render_page(results))
    else:
        atomic_write(md_path, markdown(results, md_path, figures))
    return md_path, results, notes
