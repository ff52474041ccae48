"""The Python API's walk-through, run for real in a Jupyter kernel: each cell and its outputs, as markdown.

    pip install -e '.[notebook,sklearn]' nbclient ipykernel
    python bench/api_session.py --figures docs/api > session.md   # the cells of docs/api.md, with their outputs
    python bench/api_session.py --cells sklearn > sklearn.md      # the estimator's session (docs/sklearn.md)

The kernel runs in a temporary folder holding a link to configs/, so every path in the outputs is relative.
One cell is interrupted as the notebook's interrupt button does (the kernel gets SIGINT two seconds in);
a progress bar (rich, an ipywidgets Output in Jupyter) is shown as the text it ends with; a figure is saved
beside the page (--figures DIR) and linked.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import signal
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

API = [
    ("", "import nnlab\nnnlab.__version__"),
    ("", 'run = nnlab.train("configs/adam_relu.yaml", overrides={"train.epochs": 40}, quiet=False)\nrun'),
    ("", 'run.status, run.summary["best"], run.summary["test"]'),
    ("", 'run.metrics["val_acc"][-5:]'),
    ("", "run.metrics_frame().tail(3)"),
    ("figure:curves", "run.plot()"),
    ("", "run.diagnosis"),
    ("", 'x, y, x_test, y_test = nnlab.dataset("mnist1d")\n'
         '(run.predict(x_test) == y_test).mean(), run.predict_proba(x_test[:2]).round(3)'),
    ("", 'fast = nnlab.train("configs/adam_relu.yaml", overrides={"train.epochs": 40, "train.optimizer.lr": 1e-2})\n'
         "import pandas as pd\n"
         'pd.DataFrame(nnlab.compare([run, fast]))[["run", "settings", "best_val_acc", "test_acc"]]'),
    ("", 'nnlab.train("configs/adam_relu.yaml", overrides={"model.hiden": [64]})'),
    ("interrupt", 'long = nnlab.train("configs/adam_relu.yaml", overrides={"train.epochs": 1500}, name="long")'),
    ("", 'stopped = nnlab.runs("runs")[0]\nstopped, (stopped.path / "checkpoint.npz").exists()'),
    ("", 'done = nnlab.resume(stopped)\ndone.status, done.summary["epochs"], len(done.summary["resumed"])'),
    ("", 's = nnlab.sweep("configs/adam_relu.yaml", params={"train.optimizer.lr": [1e-3, 3e-3, 1e-2]},\n'
         '                seeds=[0, 1], jobs=2, quiet=False)\n'
         "s"),
    ("", 's.best["params"], round(s.best["value"], 4), s.best["test"]["acc"]'),
    ("", 's.best_config["train"]["optimizer"]'),
    ("", 'len(nnlab.runs("sweeps")), nnlab.compare(s.runs())[0]["run"]'),
]

SKLEARN = [
    ("", "from nnlab.sklearn import MLPClassifier\n"
         "from sklearn.datasets import load_digits\n"
         "from sklearn.model_selection import train_test_split\n"
         "X, y = load_digits(return_X_y=True)\n"
         "X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)\n"
         "clf = MLPClassifier(hidden=(64,), epochs=30).fit(X_train, y_train)\n"
         "clf.score(X_test, y_test)"),
    ("", "from sklearn.pipeline import make_pipeline\n"
         "from sklearn.preprocessing import MinMaxScaler\n"
         "from sklearn.model_selection import GridSearchCV\n"
         'pipe = make_pipeline(MinMaxScaler(), MLPClassifier(epochs=20, preprocess="none"))\n'
         'grid = GridSearchCV(pipe, {"mlpclassifier__lr": [1e-3, 1e-2], "mlpclassifier__hidden": [(32,), (64, 64)]},\n'
         "                    cv=3).fit(X_train, y_train)\n"
         'grid.best_params_, round(grid.best_score_, 4), round(grid.score(X_test, y_test), 4)'),
    ("", 'clf = MLPClassifier(config="configs/adam_relu.yaml", epochs=30, runs_dir="runs").fit(X_train, y_train)\n'
         "clf.run_"),
    ("", "clf.run_.predict(X_test[:5]), clf.predict(X_test[:5])"),
]


def widget_text(nb, model_id: str) -> str:
    """The last text an ipywidgets Output (rich's live display in Jupyter) shows."""
    state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    outs = state.get(model_id, {}).get("state", {}).get("outputs", [])
    texts = [o.get("data", {}).get("text/plain", "") or o.get("text", "") for o in outs]
    return texts[-1].rstrip() if texts else ""


def main(argv=None) -> None:
    import nbformat
    from nbclient import NotebookClient

    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", choices=("api", "sklearn"), default="api")
    ap.add_argument("--figures", default=None, help="save figures here (and link them by this relative path)")
    ap.add_argument("--kernel", default="python3")
    args = ap.parse_args(argv)
    cells = API if args.cells == "api" else SKLEARN
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src, metadata={"tag": tag}) for tag, src in cells]
    work = tempfile.mkdtemp(prefix="nnlab-session-")
    os.symlink(ROOT / "configs", Path(work) / "configs")
    client = NotebookClient(nb, timeout=900, kernel_name=args.kernel, allow_errors=True,
                            resources={"metadata": {"path": work}})
    with client.setup_kernel():
        for i, cell in enumerate(nb.cells):
            timer = None
            if cell.metadata.get("tag") == "interrupt":  # the notebook's interrupt button: SIGINT to the kernel
                pid = client.km.provisioner.process.pid
                timer = threading.Timer(2.0, os.kill, (pid, signal.SIGINT))
                timer.start()
            client.execute_cell(cell, i)
            if timer is not None:
                timer.cancel()
        client.set_widgets_metadata()
    out = []
    for n, cell in enumerate(nb.cells, 1):
        out.append(f"```python\n# In [{n}]\n{cell.source}\n```\n")
        texts = []
        for o in cell.outputs:
            if o.output_type == "stream":
                texts.append(o.text.rstrip())
            elif o.output_type == "error":
                texts.append(f"{o.ename}: {o.evalue}")
            elif "image/png" in o.get("data", {}):
                name = cell.metadata.get("tag", "figure:figure").split(":")[1]
                if args.figures:
                    Path(args.figures).mkdir(parents=True, exist_ok=True)
                    Path(args.figures, f"{name}.png").write_bytes(base64.b64decode(o["data"]["image/png"]))
                    texts.append(f"![{name}]({Path(args.figures).name}/{name}.png)")
                else:
                    texts.append(f"[a figure: {o['data'].get('text/plain', '')}]")
            elif "application/vnd.jupyter.widget-view+json" in o.get("data", {}):
                texts.append(widget_text(nb, o["data"]["application/vnd.jupyter.widget-view+json"]["model_id"]))
            elif "text/plain" in o.get("data", {}):
                texts.append(o["data"]["text/plain"].rstrip())
        text = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(t for t in texts if t)).replace(work, ".")
        lines = [line for line in text.splitlines() if not line.startswith("![")]
        if "".join(lines).strip():
            out.append("```text\n" + "\n".join(lines) + "\n```\n")
        out.extend(line + "\n" for line in text.splitlines() if line.startswith("!["))
    sys.stdout.write("\n".join(out))


if __name__ == "__main__":
    main()
