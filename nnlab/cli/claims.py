"""nnlab claims: the claims of the course notes, each tuned and judged per regime by a stated rule.

Imports inside the commands are for start-up time: nnlab --help loads no numpy.
"""

from __future__ import annotations

import click

from nnlab.cli import handle_errors, main, make_console


@main.group()
def claims():
    """The claims gallery: claims/<id>.yaml files, each a note's claim, its design and its checks.

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
@click.option("--quick", is_flag=True, help="2 judging seeds, 1 tuning seed, no widening and each claim's quick: "
                                            "overrides (a smoke test, not evidence).")
@click.option("--out", default="claims-out", show_default=True, type=click.Path(file_okay=False),
              help="Folder of the claims' folders (<id>-full or <id>-quick).")
@click.option("--claims-dir", default="claims", show_default=True, type=click.Path(file_okay=False),
              help="Where claim ids are looked up (and every claim is taken from when none is named).")
@handle_errors
def run(claim_ids, jobs, quick, out, claims_dir):
    """Run each claim: per regime, tune each variant, then judge it on the judging seeds.

    A CLAIM is an id (claims/<id>.yaml) or a path.  Every claim file is checked before
    anything trains.  A finished claim folder is reused; an unfinished one is resumed
    (finished runs kept); a sweep whose plan changed is run again.
    """
    from nnlab.claims.run import describe, run_claims

    out_console = make_console()

    def say(text):
        out_console.print(text, markup=False, soft_wrap=True)

    def view(spec, title):
        if not out_console.is_terminal:  # piped: one line per claim
            from nnlab.sweep.lifecycle import SweepView

            return SweepView()
        from nnlab.cli.sweep_panel import SweepPanel

        return SweepPanel(out_console, spec, title=title)

    def start(i, n, claim):
        if out_console.is_terminal:
            say(f"[{i}/{n}] {describe(claim)}")

    def done(row):
        took = "" if row["how"] == "reused" else f" in {row['seconds']:.1f} s"
        say(f"{row['id']}: {row['how']} ({row['runs']} run{'s' if row['runs'] != 1 else ''}){took}: {row['folder']}")

    rows = run_claims(claim_ids, quick=quick, out=out, jobs=jobs, claims_dir=claims_dir, say=say, view=view,
                      on_start=start, on_claim=done)
    if len(rows) > 1:
        say(f"{len(rows)} claims in {sum(r['seconds'] for r in rows):.1f} s")


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
    """Write the gallery: per claim the note's words, the design, per regime a table, the checks and a figure.

    Uses each claim's finished full run, else its quick run.
    """
    from nnlab.claims.page import write_report
    from nnlab.cli import check_output

    check_output(output, "-o", (".md", ".html", ".htm"), create_folder=True)
    console = make_console()
    from pathlib import Path

    ids = {p.stem for p in Path(claims_dir).glob("*.yaml")} if claims_dir else None
    path, results, notes = write_report(out, output, ids=ids, claims_dir=claims_dir or "claims")
    for n in notes:
        console.print(f"note: {n}", markup=False, soft_wrap=True)
    width = max((len(r.id) for r in results), default=0)
    for r in results:
        line = f"{r.id:<{width}}  {r.claim['mode']:<5} {r.overall}"
        if console.is_terminal and len(line) > console.width:  # a narrow terminal: the verdict on its own line
            line = f"{r.id:<{width}}  {r.claim['mode']}\n    {r.overall}"
        console.print(line, markup=False, soft_wrap=True)
    console.print(f"wrote {path}", markup=False)
