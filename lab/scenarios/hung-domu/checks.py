"""The checks of the hung-domu scenario, named once: dom0.py records them
and tests/lab asks for them (through lab.host.job.checks("hung-domu")).
Standard library only: dom0 imports this module as ``checks``."""

SILENT_DOMU_TIMED_OUT = "the wait for a silent domU is reported as timed out"
WAIT_ENDS_WITHIN_BOUND = "the wait ends within its bound (plus destroy time)"
SILENT_DOMU_DESTROYED = "the silent domU is destroyed"
VBD_RELEASED = "its vbd is released"

# Every name above is asked for by a test.
UNTESTED_BY_NAME: tuple[object, ...] = ()
