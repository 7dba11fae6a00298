"""The lab's cache directory and content-addressed keys."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def cache_root() -> Path:
    """Where downloads, module builds and images are kept between runs."""
    env = os.environ.get("XENDIX_LAB_CACHE")
    if env:
        root = Path(env)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        root = Path(base) / "xen-dix"
    root.mkdir(parents=True, exist_ok=True)
    return root


def key(*parts: object) -> str:
    """A short, stable key for the given parts (strings, bytes or paths)."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, Path):
            h.update(part.name.encode())
            h.update(part.read_bytes())
        elif isinstance(part, bytes):
            h.update(part)
        else:
            h.update(str(part).encode())
        h.update(b"\0")
    return h.hexdigest()[:16]
