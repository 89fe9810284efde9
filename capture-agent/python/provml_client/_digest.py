"""Content digests of local files: what a data reference's ``digest=True`` asks the client to compute."""

import hashlib
import re
import urllib.parse
import urllib.request

#: The form of a content digest (CaptureEvent v2, ``dataRefs[].digest``).
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_CHUNK = 1 << 20


def file_digest(uri: str) -> str:
    """``sha256:`` and the SHA-256 of the file a ``file:`` URI names, in lowercase hex, read in 1 MiB
    chunks on the caller's thread (it is asked for, per reference).

    Raises ValueError for a URI that is not a ``file:`` URI, OSError when the file cannot be read."""
    parts = urllib.parse.urlsplit(uri)
    if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
        raise ValueError("not a local file: URI: %r" % uri)
    h = hashlib.sha256()
    with open(urllib.request.url2pathname(parts.path), "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()
