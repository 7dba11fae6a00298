"""What a lab scenario can do in dom0: disks, domUs, checks and results.

A scenario's dom0.py does ``import labguest as lab``, builds a
:class:`Scenario`, records facts and checks, and calls
:meth:`Scenario.save`.  Everything that waits has a bound.  The parts:

- ``base``: the job, bounded commands and waits;
- ``results``: facts and checks;
- ``disks``: scsi_debug, NVMe, partitions, dm volumes, the mailbox;
- ``domu``: domU configs, lives and the console protocol;
- ``knobs``: our modules, blkback's counters and test hooks;
- ``xs``: xenstore and sysfs names of a vbd;
- ``cleanup``: what every scenario checks at its end;
- ``background``: commands beside a domU (the xendix tools), stopped with Ctrl-C;
- ``admin``: xendix as dom0's administrator runs it.
"""

from .base import LAB, OUT, job, kernel_log_problems, param, read, sh, wait_until  # noqa: F401
from .admin import summary, xendix  # noqa: F401
from .background import Background  # noqa: F401
from .cleanup import check_dom0_clean, dom0_kernel_problems  # noqa: F401
from .disks import *  # noqa: F401,F403
from .domu import *  # noqa: F401,F403
from .knobs import *  # noqa: F401,F403
from .results import Scenario  # noqa: F401
from .xs import *  # noqa: F401,F403
