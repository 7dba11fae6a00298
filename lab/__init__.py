"""A real Xen lab: Xen 4.17, a Debian dom0 and a PV domU under QEMU (TCG).

The host side builds the modules and the images (cached by package
versions), boots QEMU with a job disk holding a scenario, and reads the
scenario's JSON results back from a result disk.  See ``python -m lab``.
"""
