"""Check names of the bench scenario (dom0.py and tests/lab/test_bench.py)."""

DOMU_IS_UP = "each configuration's domU is up with its disks: the DIX disks carry their dom0 disk's profile, the plain ones none"
CONFIG_NEGOTIATED = "each configuration negotiated what it asked for (indirect segments, persistent grants, ring pages, queues)"
PROBES_STARTED = "dom0's request and grant probes started (bcc on the drivers' tracepoints and the grant-table functions)"
EVERY_RUN_COMPLETED = "every fio run completed without an error and did I/O"
DIX_RUNS_ARE_PAIRS = "every request on a DIX disk was a pair (two ring slots), none on a plain disk"
PI_BYTES_MATCH_THE_PROFILE = "the pairs carried 8 bytes of PI per 512-byte interval"
NO_OOPS_IN_THE_DOMUS = "no oops, BUG or WARNING in any domU's kernel log"

# -- lab.check_dom0_clean(s) (lab/dom0/labguest/cleanup.py) records these;
# the unit test holds them to its text.
NO_VBD_LEFT_IN_DOM0 = "no vbd is left in dom0"
NO_OOPS_IN_DOM0 = "no BUG, WARNING or Oops in dom0's kernel log"
EMITTED_BY_LABGUEST = (NO_VBD_LEFT_IN_DOM0, NO_OOPS_IN_DOM0)

# Every name above is asked for by a test.
UNTESTED_BY_NAME: tuple[object, ...] = ()
