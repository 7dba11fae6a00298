"""The kernel series: the folders of patches/ that have a series.conf.

Adding a series is one new folder, patches/<series>/ with its patches and
a series.conf naming its Debian source and headers packages; the build
(kmod/xendix-kbuild), ./run and the lab all read it from there.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError

PATCHES = Path(__file__).resolve().parents[2] / "patches"
COVER_LETTER = "0000-cover-letter.patch"


@dataclass(frozen=True)
class Series:
    """One kernel series and the Debian packages it is built from."""

    name: str
    source: str
    headers: str

    @property
    def folder(self) -> Path:
        return PATCHES / self.name

    def patches(self, folder: Path | None = None) -> list[Path]:
        """The patches, in the order they are applied (the cover letter is
        not one): those of ``folder`` instead when it is given."""
        return sorted(p for p in (folder or self.folder).glob("*.patch") if p.name != COVER_LETTER)


def version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split("."))


def names() -> list[str]:
    """Every series, oldest first (6.1 before 6.12)."""
    return sorted((conf.parent.name for conf in PATCHES.glob("*/series.conf")), key=version_key)


def default() -> str:
    """The oldest series: Debian 12's default kernel."""
    return names()[0]


def load(name: str) -> Series:
    """The series called ``name``; ConfigError naming the known ones."""
    conf = PATCHES / name / "series.conf"
    if name not in names():
        raise ConfigError(f"unknown kernel series {name!r} (known: {', '.join(names())})")
    data = tomllib.loads(conf.read_text())
    return Series(name, data["source"], data["headers"])
