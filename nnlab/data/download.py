"""Files of a data set downloaded on first use, checked against their published checksums, cached.

A :class:`Remote` names a data set's files (each with the md5 or sha256 its publisher gives) and the
base URLs they are published at, tried in order.  ``fetch(remote)`` returns the path of each file in
the cache, ``cache_dir()/<name>/<file>`` (nnlab.data.mnist1d.cache_dir: $NNLAB_CACHE, else
$XDG_CACHE_HOME/nnlab, else ~/.cache/nnlab), downloading what is missing:

- the bytes go to ``.<file>.part`` in that folder (opened without following links) and are never used
  as they are: only once the whole file's checksum is the published one is it renamed into place
  (os.replace), so a cut download never leaves a half file that a later run trusts;
- a cut download is resumed where it stopped (an HTTP Range request) the next time; a server that
  does not resume sends the whole file again, and a partial file that turns out wrong is deleted;
- a file whose checksum differs from the published one is refused, whether downloaded or put in the
  cache by hand, in one line naming the file and both checksums;
- every connection and every read has a timeout ($NNLAB_DOWNLOAD_TIMEOUT seconds, default 30), and the
  host name is looked up with the same limit, so no network is one line at once, never a hang;
- $NNLAB_DATA_MIRROR (a URL or a folder) is tried first, as ``<mirror>/<name>/<file>``: a copy of the
  files inside a firewall; the usual proxy variables (https_proxy, http_proxy, no_proxy) are honoured;
- one process downloads a data set at a time (a lock on its cache folder);
- progress goes to nnlab.progress (a bar in the command line, nothing by default in the API).

Every failure is one DataError line: the URL, the reason, and how to place the file by hand.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from nnlab import files, progress
from nnlab.data.mnist1d import cache_dir
from nnlab.errors import DataError, OutputError

DEFAULT_TIMEOUT = 30.0  # seconds for the name lookup, the connection, and each read
CHUNK = 1 << 16
DOCS = "docs/datasets.md"  # where placing the files by hand is described


@dataclass(frozen=True)
class RemoteFile:
    """One published file: its name, its checksum as published ('md5:...' or 'sha256:...'), and the
    published checksums of members inside it that are checked again when read (an archive's files)."""

    name: str
    checksum: str
    members: dict = field(default_factory=dict)  # member name -> 'md5:...'


@dataclass(frozen=True)
class Remote:
    """A data set published as files at some URLs: ``<url><file name>`` for each base URL in turn."""

    name: str  # the data set's name: its folder in the cache, and the mirror's
    files: tuple
    urls: tuple  # base URLs ending in '/'
    home: str = ""  # the publisher's page
    licence: str = ""

    def file(self, name: str) -> RemoteFile:
        return next(f for f in self.files if f.name == name)


def timeout() -> float:
    """$NNLAB_DOWNLOAD_TIMEOUT in seconds (> 0), else 30."""
    text = os.environ.get("NNLAB_DOWNLOAD_TIMEOUT", "").strip()
    if not text:
        return DEFAULT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0 or value != value:
        raise DataError(f"NNLAB_DOWNLOAD_TIMEOUT: must be a number of seconds > 0, got {text!r}; unset it for "
                        f"{DEFAULT_TIMEOUT:g}")
    return value


def digest(path, algorithm: str) -> str:
    """The hex digest of a file (read in chunks)."""
    h = hashlib.new(algorithm)
    with files.open_regular_file(path, files.data_max_bytes(), "a downloaded data file", DataError) as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def split_checksum(checksum: str) -> tuple[str, str]:
    algorithm, _, value = checksum.partition(":")
    if algorithm not in ("md5", "sha256") or not value:
        raise ValueError(f"a checksum is 'md5:<hex>' or 'sha256:<hex>', got {checksum!r}")
    return algorithm, value.lower()


def bytes_match(data: bytes, checksum: str) -> bool:
    algorithm, value = split_checksum(checksum)
    return hashlib.new(algorithm, data).hexdigest() == value


def folder_of(remote: Remote) -> Path:
    return cache_dir() / remote.name


def mirror_urls(remote: Remote) -> list[str]:
    """$NNLAB_DATA_MIRROR as a base URL for this data set ('<mirror>/<name>/'); a folder becomes a file: URL."""
    mirror = os.environ.get("NNLAB_DATA_MIRROR", "").strip()
    if not mirror:
        return []
    if "://" not in mirror:
        mirror = Path(mirror).expanduser().resolve().as_uri()
    return [mirror.rstrip("/") + f"/{remote.name}/"]


def fetch(remote: Remote) -> dict[str, Path]:
    """Each file of ``remote`` in the cache, checked against its published checksum; what is missing is
    downloaded first (one DataError line when it cannot be)."""
    folder = folder_of(remote)
    out = {}
    missing = [f for f in remote.files if not os.path.lexists(folder / f.name)]
    if missing:
        _make_folder(folder, remote)
        lock = files.FolderLock(folder)
        try:
            lock.acquire(f"{folder}: another nnlab process is downloading {remote.name}")
        except OutputError as exc:
            raise DataError(str(exc)) from None
        try:
            for f in missing:
                if not os.path.lexists(folder / f.name):  # the process that held the lock may have got it
                    download(remote, f, folder)
        finally:
            lock.release()
    for f in remote.files:
        path = folder / f.name
        check_cached(remote, f, path)
        out[f.name] = path
    return out


def _make_folder(folder: Path, remote: Remote) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"{folder}: cannot create the cache folder for {remote.name} ({exc.strerror or exc}); "
                        "set NNLAB_CACHE to a folder you can write") from None
    if folder.is_symlink() or not folder.is_dir():
        raise DataError(f"{folder}: is not a folder; nnlab keeps {remote.name}'s files there: move it away")


def check_cached(remote: Remote, f: RemoteFile, path: Path) -> None:
    """A file in the cache is used only when its checksum is the published one (one line otherwise)."""
    algorithm, want = split_checksum(f.checksum)
    try:
        got = digest(path, algorithm)
    except FileNotFoundError:
        raise DataError(f"{path}: missing; {_by_hand(remote, f, path)}") from None
    if got != want:
        raise DataError(f"{path}: its {algorithm} is {got}, not the published {want}: not the file {remote.name} "
                        f"publishes (damaged, or another file); delete it and nnlab downloads it again, or "
                        f"{_by_hand(remote, f, path, lower=True)}")


def _by_hand(remote: Remote, f: RemoteFile, path: Path, lower: bool = False) -> str:
    algorithm, want = split_checksum(f.checksum)
    text = (f"Place the files by hand: download {remote.name}'s files on a machine with network and copy them "
            f"into {path.parent} (this one: {f.name}, {algorithm} {want}; every name and checksum is in {DOCS}), "
            "or set NNLAB_DATA_MIRROR to a copy of them")
    return text[0].lower() + text[1:] if lower else text


def download(remote: Remote, f: RemoteFile, folder: Path) -> Path:
    """Download one file into ``folder`` (resuming a partial one), checked, then renamed into place."""
    path = folder / f.name
    part = folder / f".{f.name}.part"
    urls = [u + f.name for u in mirror_urls(remote) + list(remote.urls)]
    limit = timeout()
    first_error = None
    for url in urls:
        try:
            _get(url, part, limit, f.name)
        except _Failed as exc:
            first_error = first_error or (url, exc.reason)
            continue
        if _matches(part, f.checksum):
            files.promote(part, path)
            return path
        algorithm, want = split_checksum(f.checksum)
        got = digest(part, algorithm)
        _remove(part)  # a wrong file is never resumed
        first_error = first_error or (url, f"its {algorithm} is {got}, not the published {want}")
    url, reason = first_error
    more = f" (and {len(urls) - 1} other location{'s' if len(urls) > 2 else ''})" if len(urls) > 1 else ""
    raise DataError(f"dataset '{remote.name}': cannot download {url}{more}: {reason}. {_by_hand(remote, f, path)}")


class _Failed(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _matches(path: Path, checksum: str) -> bool:
    algorithm, want = split_checksum(checksum)
    return digest(path, algorithm) == want


def _remove(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _resolve(host: str, port: int, seconds: float) -> None:
    """Look the host name up within ``seconds`` (getaddrinfo itself has no timeout: a dead resolver would
    otherwise hang the download before the connection's timeout starts)."""
    result: dict = {}

    def look_up():
        try:
            socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            result["ok"] = True
        except OSError as exc:
            result["error"] = exc

    t = threading.Thread(target=look_up, daemon=True)
    t.start()
    t.join(seconds)
    if t.is_alive():
        raise _Failed(f"looking up {host} took more than {seconds:g} s (no network?)")
    if "error" in result:
        exc = result["error"]
        raise _Failed(f"cannot look up {host} ({getattr(exc, 'strerror', None) or exc}; no network?)")


def _get(url: str, part: Path, limit: float, name: str) -> None:
    """Fetch ``url`` into ``part``, continuing it when it already holds the start of the file."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme in ("http", "https") and parsed.hostname and not _proxied(parsed):
        _resolve(parsed.hostname, parsed.port or (443 if parsed.scheme == "https" else 80), limit)
    have = part.stat().st_size if part.is_file() and not part.is_symlink() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "nnlab", **({"Range": f"bytes={have}-"}
                                                                             if have else {})})
    try:
        response = urllib.request.urlopen(request, timeout=limit)  # noqa: S310 - http(s) or file: URLs only
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # the partial file is already whole (or longer): its checksum decides
            return
        raise _Failed(f"HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        raise _Failed(_reason_text(reason)) from None
    except (OSError, ValueError, http.client.HTTPException) as exc:
        raise _Failed(_reason_text(exc)) from None
    with response:
        status = getattr(response, "status", None) or 200
        resumed = have and status == 206
        length = response.headers.get("Content-Length")
        total = int(length) + (have if resumed else 0) if length and length.isdigit() else None
        cap = files.data_max_bytes()
        if total is not None and total > cap:
            raise _Failed(f"the file has {files.size_text(total)}, more than {files.size_text(cap)}, the most nnlab "
                          "reads for a data file (set NNLAB_MAX_DATA_BYTES to allow more)")
        try:
            out = files.open_for_append(part, new=not resumed, binary=True)
        except OutputError as exc:
            raise DataError(str(exc)) from None
        done = have if resumed else 0
        with out, progress.task(f"downloading {name}", total) as bar:
            if done:
                bar.advance(done)
            while True:
                try:
                    chunk = response.read(CHUNK)
                except (OSError, ValueError, http.client.HTTPException) as exc:  # a timeout, a reset, a cut
                    out.flush()
                    raise _Failed(f"{_reason_text(exc)} after {files.size_text(done)}; run again to resume") \
                        from None
                if not chunk:
                    break
                done += len(chunk)
                if done > cap:
                    raise _Failed(f"more than {files.size_text(cap)}, the most nnlab reads for a data file")
                out.write(chunk)
                bar.advance(len(chunk))
            out.flush()
            os.fsync(out.fileno())
        if total is not None and done < total:
            raise _Failed(f"the connection ended after {files.size_text(done)} of {files.size_text(total)}; run "
                          "again to resume")


def _proxied(parsed) -> bool:
    """Whether urllib sends this URL through a proxy (then the proxy's name is looked up, not the host's)."""
    proxies = urllib.request.getproxies()
    return parsed.scheme in proxies and not urllib.request.proxy_bypass(parsed.hostname or "")


def _reason_text(exc) -> str:
    if isinstance(exc, socket.timeout) or isinstance(exc, TimeoutError):
        return "timed out (no answer within NNLAB_DOWNLOAD_TIMEOUT)"
    if isinstance(exc, socket.gaierror):
        return f"cannot look up the host ({exc.strerror or exc}; no network?)"
    if isinstance(exc, http.client.IncompleteRead):
        return "the connection ended before the whole file came"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc) or type(exc).__name__
    text = str(exc)
    return text or type(exc).__name__
