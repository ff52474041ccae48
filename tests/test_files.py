"""Config and data files that are not regular files, or too large, are refused in one line, never read."""

from __future__ import annotations

import gzip
import os
import socket
import struct

import numpy as np
import pytest
from click.testing import CliRunner

from nnlab import files
from nnlab.cli import main
from nnlab.config import load_config
from nnlab.data import load_dataset, read_idx
from nnlab.errors import ConfigError, DataError


def load(name, **options):
    return load_dataset({"name": name, **options, "val_fraction": 0.0, "preprocess": "none"})


@pytest.fixture
def fifo(tmp_path):
    def make(name):
        p = tmp_path / name
        os.mkfifo(p)
        return p
    return make


def idx_bytes(arr):
    return bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.astype(">u1").tobytes()


# ---------------------------------------------------------------- nnlab.files


def test_read_bytes_bounded_reads_a_regular_file_and_a_symlink_to_one(tmp_path):
    p = tmp_path / "a.txt"
    p.write_bytes(b"12345")
    (tmp_path / "link").symlink_to(p)
    assert files.read_bytes_bounded(p, 5, "a text file") == b"12345"
    assert files.read_bytes_bounded(tmp_path / "link", 5, "a text file") == b"12345"


def test_read_bytes_bounded_refuses_what_is_not_a_regular_file(tmp_path, fifo):
    f = fifo("pipe")
    with pytest.raises(ValueError) as info:
        files.read_bytes_bounded(f, 100, "a text file", ValueError)
    assert str(info.value) == f"{f}: is a named pipe (FIFO), not a regular file; expected a text file"
    for dev in ("/dev/zero", "/dev/null"):
        with pytest.raises(ValueError) as info:
            files.read_bytes_bounded(dev, 100, "a text file", ValueError)
        assert str(info.value) == f"{dev}: is a character device, not a regular file; expected a text file"
    with pytest.raises(ValueError, match="is a folder, not a regular file"):
        files.read_bytes_bounded(tmp_path, 100, "a text file", ValueError)
    sock_path = tmp_path / "s"
    s = socket.socket(socket.AF_UNIX)
    try:
        s.bind(str(sock_path))
        with pytest.raises(ValueError, match="s: is a socket, not a regular file"):
            files.read_bytes_bounded(sock_path, 100, "a text file", ValueError)
    finally:
        s.close()


def test_read_bytes_bounded_refuses_an_oversized_file(tmp_path):
    p = tmp_path / "big"
    p.write_bytes(b"x" * 2049)
    with pytest.raises(ValueError) as info:
        files.read_bytes_bounded(p, 2048, "a text file", ValueError, " (raise it)")
    assert str(info.value) == f"{p}: is 2 KiB, larger than 2 KiB, the most nnlab reads for a text file (raise it)"
    assert files.read_bytes_bounded(p, 2049, "a text file") == b"x" * 2049


def test_data_cap_from_environment(monkeypatch):
    monkeypatch.delenv("NNLAB_MAX_DATA_BYTES", raising=False)
    assert files.data_max_bytes() == 4 << 30
    monkeypatch.setenv("NNLAB_MAX_DATA_BYTES", "1000")
    assert files.data_max_bytes() == 1000


# ---------------------------------------------------------------- configs


def test_config_fifo_dev_zero_dev_null_refused(fifo):
    f = fifo("c.yaml")
    with pytest.raises(ConfigError) as info:
        load_config(f)
    assert info.value.lines == [f"{f}: is a named pipe (FIFO), not a regular file; expected a YAML config file"]
    for dev in ("/dev/zero", "/dev/null"):
        with pytest.raises(ConfigError) as info:
            load_config(dev)
        assert info.value.lines == [f"{dev}: is a character device, not a regular file; "
                                    "expected a YAML config file"]


def test_config_extends_dev_zero_and_fifo_refused(tmp_path, fifo):
    f = fifo("base.yaml")
    (tmp_path / "c.yaml").write_text("extends: base.yaml\n")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "c.yaml")
    assert info.value.lines == [f"{f}: is a named pipe (FIFO), not a regular file; expected a YAML config file"]
    (tmp_path / "d.yaml").write_text("extends: /dev/zero\n")
    with pytest.raises(ConfigError, match="^/dev/zero: is a character device"):
        load_config(tmp_path / "d.yaml")


def test_config_over_one_mib_refused(tmp_path, monkeypatch):
    p = tmp_path / "c.yaml"
    p.write_text("seed: 1\n" + "#" * 100 + "\n")
    monkeypatch.setattr(files, "CONFIG_MAX_BYTES", 64)
    with pytest.raises(ConfigError) as info:
        load_config(p)
    assert info.value.lines == [f"{p}: is 109 bytes, larger than 64 bytes, the most nnlab reads for "
                                "a YAML config file"]


def test_config_cap_is_one_mib():
    assert files.CONFIG_MAX_BYTES == 1 << 20


def test_cli_validate_fifo_exits_2_with_one_line(fifo):
    f = fifo("c.yaml")
    r = CliRunner().invoke(main, ["validate", str(f)])
    assert r.exit_code == 2
    assert r.output.strip().splitlines() == [f"error: {f}: is a named pipe (FIFO), not a regular file; "
                                             "expected a YAML config file"]


# ---------------------------------------------------------------- data files


@pytest.mark.parametrize("name,what", [("npz", "an .npz archive"), ("csv", "a CSV file")])
def test_data_fifo_and_devices_refused(fifo, name, what):
    f = fifo(f"d.{name}")
    with pytest.raises(DataError) as info:
        load(name, path=str(f))
    assert info.value.lines == [f"{f}: is a named pipe (FIFO), not a regular file; expected {what}"]
    for dev in ("/dev/zero", "/dev/null"):
        with pytest.raises(DataError) as info:
            load(name, path=dev)
        assert info.value.lines == [f"{dev}: is a character device, not a regular file; expected {what}"]


def test_data_oversized_npz_and_csv_refused(tmp_path, monkeypatch):
    np.savez(tmp_path / "d.npz", x=np.zeros((50, 3)), y=np.arange(50) % 2)
    (tmp_path / "d.csv").write_text("".join(f"{i},{i % 2}\n" for i in range(50)))
    monkeypatch.setenv("NNLAB_MAX_DATA_BYTES", "100")
    for name, what in (("npz", "an .npz archive"), ("csv", "a CSV file")):
        p = tmp_path / f"d.{name}"
        with pytest.raises(DataError) as info:
            load(name, path=str(p))
        assert len(info.value.lines) == 1
        assert info.value.lines[0].startswith(f"{p}: is ")
        assert info.value.lines[0].endswith(f"larger than 100 bytes, the most nnlab reads for {what} "
                                            "(set NNLAB_MAX_DATA_BYTES to allow more)")


def test_data_npz_that_unpacks_beyond_the_cap_refused(tmp_path, monkeypatch):
    p = tmp_path / "d.npz"
    np.savez_compressed(p, x=np.zeros((1000, 10)), y=np.zeros(1000, dtype=np.int64))
    size = p.stat().st_size
    monkeypatch.setenv("NNLAB_MAX_DATA_BYTES", str(size + 10))
    with pytest.raises(DataError, match=r"d\.npz: its arrays unpack to .* larger than .*NNLAB_MAX_DATA_BYTES"):
        load("npz", path=str(p))


def test_idx_fifo_dev_zero_and_gzip_bomb_refused(tmp_path, fifo, monkeypatch):
    f = fifo("train-images-idx3-ubyte")
    with pytest.raises(DataError) as info:
        read_idx(f)
    assert info.value.lines == [f"{f}: is a named pipe (FIFO), not a regular file; expected an IDX file"]
    with pytest.raises(DataError, match="^/dev/zero: is a character device, not a regular file; "
                                        "expected an IDX file$"):
        read_idx("/dev/zero")
    # the idx folder finds a FIFO by name and refuses it, instead of saying the file is missing
    with pytest.raises(DataError) as info:
        load("idx", path=str(tmp_path))
    assert info.value.lines == [f"{f}: is a named pipe (FIFO), not a regular file; expected an IDX file"]
    bomb = tmp_path / "bomb.gz"
    bomb.write_bytes(gzip.compress(idx_bytes(np.zeros((100, 10, 10), np.uint8))))
    monkeypatch.setenv("NNLAB_MAX_DATA_BYTES", "5000")
    with pytest.raises(DataError) as info:
        read_idx(bomb)
    assert info.value.lines == [f"{bomb}: unpacks to more than 4.88 KiB, the most nnlab reads for a data file "
                                "(set NNLAB_MAX_DATA_BYTES to allow more)"]


def test_mnist1d_cache_that_is_a_fifo_is_refused_not_replaced(tmp_path, fifo, monkeypatch):
    f = fifo("mnist1d_v1.npz")
    monkeypatch.setenv("NNLAB_CACHE", str(tmp_path))
    with pytest.raises(DataError) as info:
        load("mnist1d")
    assert info.value.lines == [f"{f}: is a named pipe (FIFO), not a regular file; expected the mnist1d "
                                "cache (an .npz archive; delete it to regenerate)"]
    assert f.exists() and not f.is_file()


@pytest.mark.parametrize("value", ["abc", "0", "-5", "1e9", "4GiB"])
def test_cli_refuses_a_bad_data_cap_before_any_command(monkeypatch, value):
    """Before, a cap that is not a whole number of bytes was silently replaced by 4 GiB."""
    monkeypatch.setenv("NNLAB_MAX_DATA_BYTES", value)
    assert files.data_max_bytes() == 4 << 30  # the library stays lenient ...
    r = CliRunner().invoke(main, ["validate", "configs/adam_relu.yaml"])  # ... the command line does not
    assert r.exit_code == 2 and r.output.strip() == (
        f"error: NNLAB_MAX_DATA_BYTES: must be a whole number of bytes > 0 (the most nnlab reads of one data "
        f"file), got {value!r}; unset it for 4 GiB")
