"""A run folder carried out of a pod through its log: written as a block of text, read back on the other side.

In (the pod): a run folder.  Out: ``block(folder)``, text lines to print after the run: a begin line
``==== kibench run folder <name> tar.gz base64 <bytes> sha256 <hex> ====``, the folder as a gzip'd tar in
base64 lines of 76 characters, and an end line.  In (the user's machine): the pod's log (or the lines read
so far).  Out: ``Reader``, fed line by line, which keeps the block aside (``feed`` says which lines are the
run's own output) and ``extract(dest)``: checks size and digest, unpacks safely (``tarfile``'s ``data``
filter: no absolute paths, links out of the folder or devices) into ``dest/<name>`` and returns that path.

Why the log: it needs no privilege beyond reading the pod's log, which whoever started the Job has, and
nothing in the pod (``pods/exec`` for a ``kubectl cp`` would let the caller run anything in any pod of the
namespace; a PersistentVolume or an object store needs a storage class or credentials).  The price: the
folder travels base64-encoded (4/3 of the gzip'd size) and the kubelet rotates container logs at
``containerLogMaxSize`` (10 MiB by default): a follow started before the block reads it whole, a later
plain read only what is left (docs/kubernetes.md).
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path

from harness.errors import PlatformError

BEGIN = "==== kibench run folder"
END = "==== end of kibench run folder ===="
LINE_CHARS = 76
_BEGIN = re.compile(r"^==== kibench run folder (\S+) tar\.gz base64 (\d+) sha256 ([0-9a-f]{64}) ====$")


def pack(folder: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    return buf.getvalue()


def block(folder: Path) -> Iterator[str]:
    """The lines that carry ``folder`` (no newlines)."""
    data = pack(folder)
    yield f"{BEGIN} {folder.name} tar.gz base64 {len(data)} sha256 {hashlib.sha256(data).hexdigest()} ===="
    text = base64.b64encode(data).decode()
    for i in range(0, len(text), LINE_CHARS):
        yield text[i : i + LINE_CHARS]
    yield END


class Reader:
    """Separates the carried block from the rest of a log, line by line."""

    def __init__(self) -> None:
        self.name: str | None = None
        self.size = 0
        self.digest = ""
        self._chunks: list[str] = []
        self._inside = False
        self.complete = False

    def feed(self, line: str) -> bool:
        """Take one line (without its newline); True when it is the run's own output (to show the user)."""
        line = line.rstrip("\r\n")
        if self._inside:
            if line == END:
                self._inside, self.complete = False, True
            else:
                self._chunks.append(line.strip())
            return False
        found = _BEGIN.match(line)
        if found:
            self.name, self.size, self.digest = found.group(1), int(found.group(2)), found.group(3)
            self._chunks, self._inside, self.complete = [], True, False
            return False
        return True

    def extract(self, dest: Path) -> Path:
        """Unpack the block into ``dest``; ``PlatformError`` when it is missing, cut short or damaged."""
        if self.name is None or not self.complete:
            raise PlatformError(
                "the pod's log does not hold the whole run folder (the run did not get that far, or the log was "
                "rotated or cut: see docs/kubernetes.md); rerun with --keep and read it with kubectl logs"
            )
        data = base64.b64decode("".join(self._chunks))
        if len(data) != self.size or hashlib.sha256(data).hexdigest() != self.digest:
            raise PlatformError(f"the run folder in the pod's log is damaged ({len(data)} of {self.size} bytes, "
                                "digest differs); rerun with --keep and read it with kubectl logs")  # fmt: skip
        dest.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            tops = {Path(m.name).parts[0] for m in tar.getmembers() if m.name}
            if tops != {self.name}:
                raise PlatformError(f"the run folder in the pod's log holds {sorted(tops)}, not {self.name}")
            tar.extractall(dest, filter="data")
        return dest / self.name
