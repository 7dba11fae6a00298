"""Numbers as xendix reads them: ASCII digits only.

``int()`` and ``float()`` also take ``４`` (full-width), ``٤`` (Arabic-Indic),
`` 4 ``, ``4_0``, ``nan`` and ``inf``; none of those names a domid, a devid
or a number of seconds.
"""

from __future__ import annotations

import re

_DECIMAL = re.compile(r"[0-9]+")
_SECONDS = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")


def decimal(text: str) -> int | None:
    """``text`` as a whole number when it is ASCII digits and nothing else."""
    return int(text) if _DECIMAL.fullmatch(text) else None


def seconds(text: str) -> float | None:
    """``text`` as a finite number of seconds: ASCII digits, maybe one point."""
    return float(text) if _SECONDS.fullmatch(text) else None


def looks_numeric(text: str) -> bool:
    """Digits of any script only (``4``, ``４``, ``٤``): meant as a number."""
    return text.isdigit()
