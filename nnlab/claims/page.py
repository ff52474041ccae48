"""The claims gallery as a file: markdown (docs/claims.md, its figures in a folder beside it) or one
self-contained HTML page, chosen by the file's ending."""

from __future__ import annotations

from pathlib import Path

from nnlab.claims.gallery import Result, markdown, read_results
from nnlab.claims.html import render_page
from nnlab.files import atomic_write


def write_report(out, md_path, figures: bool = True, ids: set | None = None
                 ) -> tuple[Path, list[Result], list[str]]:
    out, md_path = Path(out), Path(md_path)
    results, notes = read_results(out, ids)
    md_path.parent.mkdir(parents=True, exist_ok=True)
    if md_path.suffix.lower() in (".html", ".htm"):  # one self-contained page, the figures inline
        atomic_write(md_path, render_page(results))
    else:
        atomic_write(md_path, markdown(results, md_path, figures))
    return md_path, results, notes
