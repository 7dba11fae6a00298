"""The checks of the observe scenario, named once: dom0.py records them
and tests/lab asks for them (through lab.host.job.checks("observe")).
Standard library only: dom0 imports this module as ``checks``."""

DOMU_IS_UP = "the domU is up with its DIX disk (xvdb) and its plain disk (xvdc)"
TOOLS_STARTED = "top, dixlat, snoop and monitor start in dom0 on the drivers' tracepoints"
SYSFS_COUNTS_THE_IO = "blkback's sysfs counts the N+M DIX requests on xvdb and none on xvdc"
TOP_COUNTS_THE_IO = ("xendix top counts exactly N+M DIX requests on xvdb (1.56% PI bytes) "
                     "and P plain ones on xvdc, under the domain's and disks' names")
DIXLAT_HAS_BOTH_HISTOGRAMS = ("xendix dixlat has a DIX histogram for xvdb and a plain one for "
                              "xvdc, with as many samples as requests")
DISK_REJECTED_THE_CORRUPT_WRITES = "the disk rejected the writes whose PI blkback corrupted"
DISK_FAILED_THE_ROTTED_READ = "the disk failed the read of a block rotted behind its back"
GUEST_WROTE_WITHOUT_PI = "a write with write_generate off went without PI and succeeded"
SYSFS_COUNTS_THE_FAILURES = ("blkback's sysfs counts each failure once by kind (guard for the "
                             "corrupted writes) and the unprotected write")
SNOOP_SHOWS_EACH_FAILURE = ("xendix snoop shows each failure and the unprotected write once, "
                            "with domain, vdev, backing disk, direction and kind")
UEVENTS_COUNT_THE_FAILURES = ("xendix monitor, on the kernel's uevent socket (no udevd), "
                              "counts the integrity errors by kind and the unprotected write")
EXPORTER_AGREES_WITH_SYSFS = "xendix exporter's metrics equal blkback's counters, by kind"
GUEST_SNOOP_SEES_THE_FAILED_VERIFY = (
    "xendix snoop --guest, in a kernel that is its own blkback's guest, shows the read whose PI "
    "blkback corrupted, once, as a failed verify")
OVERHEAD_MEASURED = "the I/O rate with the probes attached and detached was measured"
NO_OOPS_IN_THE_DOMU = "no BUG, WARNING or Oops in the domU"

# -- lab.check_dom0_clean(s) (lab/dom0/labguest/cleanup.py) records these;
# the unit test holds them to its text.
NO_VBD_LEFT_IN_DOM0 = "no vbd is left in dom0"
NO_OOPS_IN_DOM0 = "no BUG, WARNING or Oops in dom0's kernel log"
EMITTED_BY_LABGUEST = (NO_VBD_LEFT_IN_DOM0, NO_OOPS_IN_DOM0)

# Every name above is asked for by a test.
UNTESTED_BY_NAME: tuple[object, ...] = ()
