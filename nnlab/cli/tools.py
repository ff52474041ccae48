"""nnlab list, gradcheck and schedule: looking at components and configs without training.

Imports inside the commands are for start-up time: nnlab --help loads no numpy.
"""

from __future__ import annotations

import sys

import click

from nnlab.cli import PLOT_SUFFIXES, check_output, handle_errors, load_configs, main, make_console, set_option


def registries():
    """(kind, registry, config key) for every kind of component, in the docs' order (nnlab.config.kinds)."""
    from nnlab.config.kinds import KINDS

    for k in KINDS:
        yield k.name, k.registry, k.key


class KindChoice(click.Choice):
    """The kinds of component (singular or plural), read from nnlab.config.kinds only when a command or its
    --help needs them: importing every component would slow down every other command's start."""

    def __init__(self):
        super().__init__([], case_sensitive=True)

    @property
    def choices(self):
        from nnlab.config.kinds import KINDS

        return [k.name for k in KINDS] + [k.name + "s" for k in KINDS]

    @choices.setter
    def choices(self, value):
        pass


@main.command("list")
@click.argument("kind", required=False, type=KindChoice(), metavar="[KIND]")
@handle_errors
def list_(kind):
    """List every component nnlab has, with its options and defaults.

    KIND (singular or plural) lists one kind: dataset, preprocessor,
    initializer, activation, optimizer, schedule or averaging.  The options are
    read from the components themselves: what this prints is exactly what a
    config may say.

    \b
    Examples:
      nnlab list
      nnlab list optimizers
    """
    from nnlab.cli import print_table
    from nnlab.options import component_options_text

    out = make_console()
    if not out.is_terminal:  # piped: one table, its first column the kind of component, for cut and awk
        from nnlab.look.term import emit, tsv

        emit(tsv(["kind", "name", "options (default)", "what it is"],
                 [[k, comp.name, component_options_text(comp), comp.summary] for k, reg, key in registries()
                  if not kind or kind.rstrip("s") == k.rstrip("s") for comp in reg]), out.file)
        return
    for k, reg, key in registries():
        if kind and kind.rstrip("s") != k.rstrip("s"):
            continue
        rows = [[comp.name, component_options_text(comp), comp.summary] for comp in reg]
        print_table(out, ["name", "options (default)", "what it is"], rows, title=f"{reg.plural}  ({key})",
                    wrap={1, 2})


@main.command()
@click.argument("config", type=click.Path(dir_okay=False))
@set_option
@click.option("--samples", default=16, show_default=True, type=click.IntRange(1, 1000),
              help="Training samples in the checked batch.")
@click.option("--entries", default=64, show_default=True, type=click.IntRange(1, 100000),
              help="Entries checked per parameter tensor (a random sample for bigger tensors).")
@handle_errors
def gradcheck(config, overrides, samples, entries):
    """Check backprop against centred differences for the configured network.

    Builds the network of CONFIG in float64 with dropout masks and RReLU slopes
    fixed, and compares every parameter tensor's backprop gradient with
    (J(theta + h) - J(theta - h)) / 2h, h = 1e-5 (CS224n notes 2.1), including
    the L1/L2 penalty.  A tensor passes when the relative error is below 1e-6.
    Entries where a unit sits on a kink (ReLU at 0, a maxout tie) are counted,
    not failed.  Exit code 1 if any tensor fails.

    \b
    Example:
      nnlab gradcheck configs/adam_relu.yaml
    """
    from nnlab.cli import print_table
    from nnlab.experiment import load_data
    from nnlab.train.gradcheck import TOLERANCE, check_config
    from nnlab.train.size import check_model_size

    cfg = load_configs([config], overrides)[0]
    dataset = load_data(cfg)
    check_model_size(cfg, dataset.n_features, dataset.n_outputs, "gradcheck", n_samples=samples)
    results = check_config(cfg, dataset, n_samples=samples, max_entries=entries)
    rows = [[r.name, "x".join(map(str, r.shape)), str(r.checked), str(r.kinks) if r.kinks else "-",
             f"{r.rel_error:.2e}", f"{r.max_abs_error:.2e}", "pass" if r.passed else "FAIL"] for r in results]
    out = make_console()
    print_table(out, ["tensor", "shape", "checked", "on a kink", "relative error", "max abs error", "result"],
                rows, right={1, 2, 3, 4, 5}, title=f"gradient check: {cfg.name} (float64, h = 1e-5)")
    failed = [r.name for r in results if not r.passed]
    if failed:
        out.print(f"[bold red]{len(failed)} tensor(s) failed[/] (relative error >= {TOLERANCE:g}): "
                  + ", ".join(failed))
        sys.exit(1)
    kinks = sum(r.kinks for r in results)
    note = f"; {kinks} entries on a kink were left out" if kinks else ""
    out.print(f"[green]all {len(results)} tensors pass[/]{note}")


@main.command()
@click.argument("config", type=click.Path(dir_okay=False))
@set_option
@click.option("--plot", type=click.Path(), default=None,
              help="Also draw the schedule into this figure (.png, .svg or .pdf).")
@handle_errors
def schedule(config, overrides, plot):
    """Print the learning rate CONFIG will use in each epoch, without training.

    With unit: step the rate changes within an epoch; the table shows the rate
    at each epoch's first step and the plot every step.  A plateau schedule
    depends on the metrics, so only its starting rate is known in advance.

    \b
    Examples:
      nnlab schedule configs/sgd_warm_restart.yaml
      nnlab schedule configs/sgd_warm_restart.yaml --plot lr.png
    """
    from nnlab.cli import print_table
    from nnlab.experiment import load_data
    from nnlab.train.trainer import make_schedule, steps_per_epoch

    if plot:
        check_output(plot, "--plot", PLOT_SUFFIXES)
    cfg = load_configs([config], overrides)[0]
    dataset = load_data(cfg)
    n_train = len(dataset.x_train)
    sched = make_schedule(cfg, n_train)
    epochs = cfg.train["epochs"]
    spe = steps_per_epoch(cfg, n_train) if sched.unit == "step" else 1
    from nnlab.train.averager import epoch_rates

    lrs = epoch_rates(cfg.train["averaging"], [sched(t) for t in range(epochs * spe)], epochs, spe)  # SWA's lr
    per_epoch = lrs[::spe]
    out = make_console()
    print_table(out, ["epoch", "learning rate"], [[str(e), f"{lr:.6g}"] for e, lr in enumerate(per_epoch, start=1)],
                right={0, 1}, title=f"{cfg.name}: {cfg.train['schedule']['name']} schedule "
                                    f"(unit {sched.unit}{f', {spe} steps per epoch' if spe > 1 else ''})")
    if sched.stateful:
        out.print("note: plateau lowers the rate in reaction to the metrics; shown is the rate before any reduction")
    avg = cfg.train["averaging"]
    if avg and avg["method"] == "swa" and avg["lr"] is not None:
        out.print(f"note: train.averaging (swa) sets the rate to {avg['lr']:g} from its first epoch on")
    if plot:
        from nnlab.look.figures import plot_schedule

        plot_schedule(lrs, plot, title=f"{cfg.name}: {cfg.train['schedule']['name']}",
                      xlabel="step" if spe > 1 else "epoch")
        out.print(f"plot: {plot}")


