"""The checks of the ctl scenario, named once: dom0.py records them and
tests/lab asks for them (through lab.host.job.checks("ctl")).
Standard library only: dom0 imports this module as ``checks``."""


def domu_is_up(which: str) -> str:
    """The ``which`` ("toggle", "policy") domU said it was ready."""
    return f"the {which} domU is up"


# -- Part 1: status, then disable/enable --now -------------------------------
STATUS_RUNS_AS_ROOT = "xendix status runs as root in dom0"
STATUS_LISTS_THREE_VBDS = "xendix status lists the domU's three vbds with their vdev names"
STATUS_NAMES_BACKING_AND_PROFILE = "xendix status names the backing disk and its profile"
STATUS_JSON_MATCHES_THE_DOMU = "xendix status --json matches what the domU shows"
STATUS_XVDB_PROTECTED = "xendix status: xvdb is protected"
STATUS_RAM_DISKS_UNSUPPORTED = "xendix status: the RAM disks are unsupported-disk"
DEVICES_SHOWS_CAPABILITY_AND_USERS = (
    "xendix devices: the DIX disk is capable and backs ctl1:xvdb, the RAM disk is not capable")


def error_exit_code(case: str, code: int) -> str:
    """The error ``case`` (e.g. "not root") exits with ``code`` and says one line."""
    return f"error {case}: exit {code} and one line on stderr"


NO_ERROR_WROTE_TO_XENSTORE = "no error wrote anything to xenstore"
DISABLE_NOW_SUCCEEDS = "xendix disable --now succeeds"
TOGGLE_IS_0_IN_THE_BACKEND = "the toggle is 0 in the re-attached backend"
DISABLE_NOW_TAKES_THE_PROFILE = "after disable --now the domU has lost the integrity profile"
ENABLE_NOW_SUCCEEDS = "xendix enable --now succeeds"
ENABLE_NOW_GIVES_IT_BACK = "after enable --now the domU has its profile back"
MONITOR_SAW_THE_REATTACH = "xendix monitor saw the re-attach from xenstore and from udev"
TOGGLE_DOMU_RAN_ITS_SCRIPT = "the toggle domU ran its script and powered off"
NO_OOPS_IN_THE_TOGGLE_DOMU = "no BUG, WARNING or Oops in the toggle domU"
ONLY_DOM0_LEFT_AFTER_TOGGLE_DOMU = "after the toggle domU, only dom0 is left"

# -- Part 2: a udev rule and an auto policy, no manual step ------------------
UDEV_INSTALL_WRITES_THE_RULE = "xendix udev install writes the rule and reloads udev"
UDEV_APPLIED_THE_POLICY = (
    "udev ran xendix apply for every new vbd: 1 on the DIX disk, 0 on the plain ones")
ONE_PROTECTED_DISK = "exactly one protected disk, the DIX one"
PROFILE_ON_XVDB_ONLY = "the domU sees a profile on xvdb only"
IO_WORKS_ON_THE_PROTECTED_DISK = "O_DIRECT I/O works on the protected disk"
NO_OOPS_IN_THE_POLICY_DOMU = "no BUG, WARNING or Oops in the policy domU"
# -- Part 3: a hostile guest, a stalled xenstored -----------------------------
HOSTILE_BYTES_SHOWN_ESCAPED = (
    "a guest's non-UTF-8 bytes and terminal escapes in its own nodes: status exits 0 "
    "and shows them escaped, no raw control byte reaches the terminal")
HOSTILE_BYTES_SPOIL_NO_OTHER_ROW = (
    "a guest's hostile bytes on xvdc spoil no other row: its xvdb stays protected")
STALLED_XENSTORED_EXITS_4 = (
    "a stalled xenstored (SIGSTOP): status ends at its deadline with exit 4 and one line")

# Recorded (failed) only when the scenario stops early.
SCENARIO_RAN_TO_ITS_END = "the scenario ran to its end"

# -- lab.check_dom0_clean(s) (lab/dom0/labguest/cleanup.py) records these;
# the unit test holds them to its text.
NO_VBD_LEFT_IN_DOM0 = "no vbd is left in dom0"
NO_OOPS_IN_DOM0 = "no BUG, WARNING or Oops in dom0's kernel log"
EMITTED_BY_LABGUEST = (NO_VBD_LEFT_IN_DOM0, NO_OOPS_IN_DOM0)

# Recorded, but no test asks for them by name: a domU that is not up stops
# the scenario, which then fails SCENARIO_RAN_TO_ITS_END and the checks
# that tests ask for; SCENARIO_RAN_TO_ITS_END exists only when it failed.
UNTESTED_BY_NAME = (domu_is_up, SCENARIO_RAN_TO_ITS_END)
