"""The lab's errors: one base class, so that ``python -m lab`` and the
tests catch every failure of the lab in one place and say it in one line
(the first line of the message; the rest, such as a serial log's tail,
follows it for those who read on)."""

from __future__ import annotations


class LabError(RuntimeError):
    """The lab could not produce a result."""

    @property
    def headline(self) -> str:
        """The message's first line."""
        return str(self).splitlines()[0] if str(self) else type(self).__name__


class LabTimeout(LabError):
    """QEMU did not finish within its bound."""


class DebianError(LabError):
    """A package could not be resolved, downloaded or unpacked."""


class ImageError(LabError):
    """An image (initramfs, root filesystem) could not be built."""


class BuildError(LabError):
    """xendix-kbuild failed (a patch did not apply, the compiler failed...)."""


class ConfigError(LabError):
    """A scenario, a series or a machine is described wrongly."""
