#!/usr/bin/env bash
# Mutation testing with mutmut 3 (configured in pyproject.toml [tool.mutmut]), then the score per module.
#
#   bench/mutants.sh                          # every configured module (components, trainer.py, model.py, ...)
#   bench/mutants.sh spec verdict stats       # the sweep file, the claims' verdicts and their statistics
#   bench/mutants.sh schema                   # config validation: slow (each of its ~1000 mutants runs every
#                                             # selected test that validates a config, training tests included)
#   bench/mutants.sh regularizers losses      # only these modules (file stems under nnlab/)
#   bench/mutants.sh trainer model            # the training loop and the MLP
#   CHILDREN=1 bench/mutants.sh ...           # worker processes (default 2)
#
# Naming modules re-runs all their mutants (mutmut otherwise keeps earlier verdicts).
# Results stay in mutants/ (git-ignored); `mutmut show NAME` prints one mutant's diff.
# The mutants that survive on purpose (equivalent, or unreachable by mutmut) are listed in bench/mutants-survivors.md.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

# the mutated copy in mutants/ must be what the tests import: no PYTHONPATH pointing at the sources
unset PYTHONPATH
# one BLAS/OpenMP thread per worker: the workers are the parallelism (and torch is fork-safe that way)
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1

patterns=()
for m in "$@"; do
  f=$(find nnlab -name "$m.py" | head -n1)
  [ -n "$f" ] || { echo "no module nnlab/**/$m.py" >&2; exit 2; }
  mod=${f%.py}; mod=${mod//\//.}
  patterns+=("$mod.*")
done

mutmut run --max-children "${CHILDREN:-2}" "${patterns[@]}" || status=$?
echo
python "$root/bench/mutant_scores.py" "$@"
exit "${status:-0}"
