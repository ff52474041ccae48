"""The claims of the course notes, each a sweep judged by a stated rule, and their gallery.

In the Python API: ``nnlab.claims.run(ids, quick=..., jobs=...)`` runs claims (nnlab.claims.run.run_claims: the
module is callable) and ``nnlab.claims.report(out, output)`` writes the gallery (nnlab.claims.page.report)."""

from nnlab.claims.page import report

__all__ = ["report"]
