"""blkback's per-vbd statistics in sysfs."""

from __future__ import annotations

from pathlib import Path

def sysfs_name(domid: int, devid: int) -> str:
    """The xen-backend device name: vbd-<domid>-<devid>."""
    return f"vbd-{domid}-{devid}"


def read_stats(sysfs: Path, domid: int, devid: int) -> dict[str, int]:
    """Every readable counter under .../vbd-D-N/statistics; {} when the vbd is gone."""
    base = Path(sysfs) / "bus" / "xen-backend" / "devices" / sysfs_name(domid, devid) / "statistics"
    out: dict[str, int] = {}
    if not base.is_dir():
        return out
    for p in sorted(base.iterdir()):
        try:
            out[p.name] = int(p.read_text().strip())
        except (OSError, ValueError):
            continue
    return out
