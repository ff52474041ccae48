"""The network size computed from the config, and the refusal of networks too big to build."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from nnlab.cli import main
from nnlab.config import validate
from nnlab.errors import ConfigError
from nnlab.train import size
from nnlab.train.model import build_model


@pytest.mark.parametrize("model", [
    {"hidden": []},
    {"hidden": [7, 5]},
    {"hidden": [6, 4], "activation": {"name": "maxout", "pieces": 3}, "batch_norm": True},
    {"hidden": [6], "activation": "prelu", "batch_norm": True, "dropout": 0.2},
])
def test_count_parameters_equals_the_built_model(model):
    cfg = validate({"model": model})
    built = build_model(cfg.model, 9, 4, "float32", np.random.default_rng(0), np.random.default_rng(1))
    assert size.count_parameters(cfg.model, 9, 4) == built.n_params
    assert sorted(size.layer_shapes(cfg.model, 9, 4)) == sorted((t.name, t.shape) for t in built.tensors)


def test_count_by_hand():
    # 2 -> [100000 x 3 pieces] -> 3: W 2*300000 + b 300000, output W 100000*3 + b 3
    cfg = validate({"model": {"hidden": [100000], "activation": {"name": "maxout", "pieces": 3}}})
    assert size.count_parameters(cfg.model, 2, 3) == 2 * 300000 + 300000 + 100000 * 3 + 3


def test_check_model_size_refuses_what_does_not_fit(monkeypatch):
    cfg = validate({"model": {"hidden": [1000, 1000]}}, source="big.yaml")
    n = 40 * 1000 + 1000 + 1000 * 1000 + 1000 + 1000 * 10 + 10
    assert size.check_model_size(cfg, 40, 10) == n
    monkeypatch.setattr(size, "memory_limit", lambda: 2 * 2**20)  # 2 MiB: budget 1 MiB
    need = size.estimate_bytes(cfg, 40, 10)
    assert need == 4 * (8 * n + 6 * 4096 * (40 + 2010))
    with pytest.raises(ConfigError) as info:
        size.check_model_size(cfg, 40, 10)
    assert info.value.lines == [f"big.yaml: model.hidden [1000, 1000]: {n:,} parameters on 40 inputs and 10 "
                                f"outputs would need about {need / 2**20:.3g} MiB in float32, more than half "
                                "of this machine's memory (1 MiB); use smaller hidden layers"]


def test_memory_limit_is_positive_and_at_most_physical():
    import os

    phys = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert 0 < size.memory_limit() <= phys


def test_gradcheck_refuses_a_huge_network_in_one_line(tmp_path, monkeypatch):
    p = tmp_path / "big.yaml"
    p.write_text("data: {name: spiral, n_samples: 60}\nmodel: {hidden: [40, 40]}\n")
    monkeypatch.setattr(size, "GRADCHECK_MAX_PARAMS", 1000)
    r = CliRunner().invoke(main, ["gradcheck", str(p)])
    assert r.exit_code == 2
    n = 2 * 40 + 40 + 40 * 40 + 40 + 40 * 3 + 3
    assert r.output.splitlines() == [f"error: {p}: model.hidden [40, 40]: {n:,} parameters on 2 inputs and 3 "
                                     "outputs; a gradient check handles at most 1,000; check a smaller network "
                                     "of the same kind"]
    monkeypatch.setattr(size, "GRADCHECK_MAX_PARAMS", 10**9)
    monkeypatch.setattr(size, "memory_limit", lambda: 2**16)
    r = CliRunner().invoke(main, ["gradcheck", str(p)])
    assert r.exit_code == 2 and len(r.output.splitlines()) == 1
    assert "would need about" in r.output and "in float64, more than half of this machine's memory" in r.output


def test_gradcheck_of_a_real_30_billion_parameter_network_is_refused_not_killed(tmp_path):
    p = tmp_path / "huge.yaml"
    p.write_text("data: {name: spiral, n_samples: 60}\nmodel: {hidden: [100000, 100000], "
                 "activation: {name: maxout, pieces: 3}}\n")
    r = CliRunner().invoke(main, ["gradcheck", str(p)])
    assert r.exit_code == 2
    # 2*300000 + 300000 + 100000*300000 + 300000 + 100000*3 + 3
    assert "30,001,500,003 parameters" in r.output and "at most 50,000,000" in r.output
