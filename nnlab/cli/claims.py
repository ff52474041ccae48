"""nnlab claims: the claims of the course notes, each run as a sweep and judged by a stated rule.

Imports inside the commands are for start-up time: nnlab --help loads no numpy.
"""

from __future__ import annotations

import click

from nnlab.cli import handle_errors, main, make_console


@main.group()
def claims():
    """The claims gallery: claims/<id>.yaml files, each a sweep over variants plus what would confirm it.

    \b
    Examples:
      nnlab claims run --quick --jobs 2
      nnlab claims run deep_sigmoid_vanishing --jobs 2
      nnlab claims report -o docs/claims.md
    """


@claims.command("run")
@click.argument("claim_ids", metavar="[CLAIM]...", nargs=-1)
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Runs trained at once, one BLAS thread each  [default: the number of cores]")
@click.option("--quick", is_flag=True, help="1 seed and each claim's quick: overrides (a smoke test, not evidence).")
@click.option("--out", default="claims-out", show_default=True, type=click.Path(file_okay=False),
              help="Folder of the claims' sweep folders (<id>-full or <id>-quick).")
@click.option("--claims-dir", default="claims", show_default=True, type=click.Path(file_okay=False),
              help="Where claim ids are looked up (and every claim is taken from when none is named).")
@handle_errors
def run(claim_ids, jobs, quick, out, claims_dir):
    """Run each claim's sweep (every claim in claims/ when none is named).

    A CLAIM is an id (claims/<id>.yaml) or a path.  Every claim file is checked before
    anything trains.  A finished sweep folder for the same claim and mode is reused; an
    unfinished one is resumed (finished runs kept).
    """
    import time

    from nnlab.claims.claim import claim_files, load_claim
    from nnlab.claims.run import run_claim
    from nnlab.errors import ConfigError
    from nnlab.train.threads import cores

    out_console = make_console()
    files = claim_files(claim_ids, claims_dir)
    loaded, errors = [], []
    for f in files:
        try:
            loaded.append(load_claim(f, quick=quick))
        except ConfigError as exc:
            errors.extend(exc.lines)
    if errors:
        raise ConfigError(lines=errors)
    jobs = min(jobs or cores(), cores())  # one run per core: more workers than cores only fight over them
    for claim, spec in loaded:
        t0 = time.time()
        view = None
        if out_console.is_terminal:  # the sweep's live panel; piped, one line per claim
            from nnlab.cli.sweep_panel import SweepPanel

            view = SweepPanel(out_console, spec)
        folder, how, n = run_claim(claim, spec, out, quick, jobs,
                                   say=lambda s: out_console.print(s, markup=False, soft_wrap=True), view=view)
        took = "" if how == "reused" else f" in {time.time() - t0:.1f} s"
        runs = f"{n} run{'s' if n != 1 else ''}"
        out_console.print(f"{claim.id}: {how} ({runs}){took}: {folder}", markup=False, soft_wrap=True)


@claims.command("report")
@click.option("--out", default="claims-out", show_default=True, type=click.Path(file_okay=False),
              help="Folder the claims were run into.")
@click.option("-o", "output", default="docs/claims.md", show_default=True, type=click.Path(dir_okay=False),
              help="The markdown file (its figures go to a folder of the same name beside it), or an .html "
                   "file: one self-contained page, figures inline.")
@click.option("--claims-dir", default=None, type=click.Path(file_okay=False),
              help="Report only the claims with a file in this folder (default: every claim run into --out).")
@handle_errors
def report(out, output, claims_dir):
    """Write the gallery: per claim its quote and source, a table over the seeds, a figure and the verdict.

    Uses each claim's finished full run, else its quick run.
    """
    from nnlab.claims.page import write_report
    from nnlab.cli import check_output

    check_output(output, "-o", (".md", ".html", ".htm"), create_folder=True)
    console = make_console()
    from pathlib import Path

    ids = {p.stem for p in Path(claims_dir).glob("*.yaml")} if claims_dir else None
    path, results, notes = write_report(out, output, ids=ids)
    for n in notes:
        console.print(f"note: {n}", markup=False, soft_wrap=True)
    width = max((len(r.claim["id"]) for r in results), default=0)
    for r in results:
        console.print(f"{r.claim['id']:<{width}}  {r.claim['mode']:<5} {r.verdict}", markup=False, soft_wrap=True)
    console.print(f"wrote {path}", markup=False)
