"""Getting a release bundle onto the gateway: a local file, or an http(s) URL on the site's LAN.

The transport is not trusted: whatever arrives is verified against the release key afterwards
(bundle.verify_bundle), so plain http from a technician's laptop is as good as https. What the
fetch must do is stay bounded: a timeout on every read and a cap on the size, so a wrong URL fails
in seconds with a clear line instead of filling the disk.
"""

from __future__ import annotations

import shutil
import urllib.error
import urllib.request
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from gateway.update.bundle import MAX_BUNDLE_BYTES, BundleError

TIMEOUT_S: Final = 30.0  # per connect and per read, not for the whole download
_BLOCK: Final = 1 << 20


def is_url(source: str) -> bool:
    """Whether `source` names an http(s) URL rather than a file."""
    return urlsplit(source).scheme in {"http", "https"}


def fetch(source: str, dest: Path, timeout_s: float = TIMEOUT_S) -> Path:
    """Copy or download `source` to `dest` (a new file); BundleError saying why it could not be had."""
    if not is_url(source):
        path = Path(source)
        if not path.is_file():
            raise BundleError(f"no release bundle at {source}")
        if path.stat().st_size > MAX_BUNDLE_BYTES:
            raise BundleError(f"{source}: larger than {MAX_BUNDLE_BYTES} bytes: not a release bundle")
        shutil.copyfile(path, dest)
        return dest
    try:
        with urllib.request.urlopen(source, timeout=timeout_s) as response, dest.open("xb") as out:
            copied = 0
            while block := response.read(_BLOCK):
                copied += len(block)
                if copied > MAX_BUNDLE_BYTES:
                    raise BundleError(f"{source}: more than {MAX_BUNDLE_BYTES} bytes: not a release bundle")
                out.write(block)
    except urllib.error.HTTPError as exc:
        raise BundleError(f"{source}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise BundleError(f"{source}: cannot download it: {reason}") from exc
    return dest
