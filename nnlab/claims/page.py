"""The claims gallery as a file: markdown (docs/claims.md, its figures in a folder beside it) or one
self-contained HTML page, chosen by the file's ending."""

from __future__ import annotations

import os
from pathlib import Path

from nnlab.claims.gallery import Result, markdown, missing_runs, read_results
from nnlab.claims.html import render_page
from nnlab.claims.untested import read_untested
from nnlab.errors import OutputError
from nnlab.files import atomic_write


def write_report(out, md_path, figures: bool = True, ids: set | None = None, claims_dir="claims"
                 ) -> tuple[Path, list[Result], list[str]]:
    """Write the page of every finished claim in ``out`` (those with an id in ``ids``), ending with the notes'
    claims that are not tested (``claims_dir``/untested.yaml, when there is one)."""
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
            notes.append(f"{r.id}: {short}")
    untested = read_untested(Path(claims_dir) / "notes" / "untested.yaml") \
        if (Path(claims_dir) / "notes" / "untested.yaml").is_file() else []
    md_path.parent.mkdir(parents=True, exist_ok=True)
    if md_path.suffix.lower() in (".html", ".htm"):  # one self-contained page, the figures inline
        atomic_write(md_path, render_page(results, untested=untested))
    else:
        atomic_write(md_path, markdown(results, md_path, figures, untested=untested))
    return md_path, results, notes


def report(out="claims-out", output="docs/claims.md", *, claims_dir=None, figures: bool = True) -> dict:
    """Write the gallery of the claims run into ``out`` (markdown, or one HTML page by ``output``'s ending);
    the Python API's ``nnlab.claims.report(...)``.  ``claims_dir``: only the claims with a file there (its
    notes/untested.yaml closes the page).  Returns the page's path, each claim's id, mode and verdicts per
    regime, and the notes (runs missing, ...)."""
    ids = {p.stem for p in Path(claims_dir).glob("*.yaml")} if claims_dir else None
    path, results, notes = write_report(out, output, figures=figures, ids=ids, claims_dir=claims_dir or "claims")
    return {"path": path, "claims": [{"id": r.id, "mode": r.claim["mode"], "verdict": r.overall,
                                      "regimes": {g.name: g.verdict for g in r.regimes}, "folder": r.folder}
                                     for r in results], "notes": notes}
