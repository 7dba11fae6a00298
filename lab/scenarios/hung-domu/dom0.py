"""hung-domu: a domU that never powers off is cut off at its bound."""

import time

import checks as C
import labguest as lab

BOUND = 20

s = lab.Scenario()
disk = lab.scsi_debug(dev_size_mb=16)
start = time.monotonic()
run = lab.run_domu("hung", [f"phy:{disk},xvdb,w"], "domu-hang.sh", timeout=BOUND)
waited = s.fact("waited_seconds", round(time.monotonic() - start, 1))
s.check(C.SILENT_DOMU_TIMED_OUT, run.timed_out)
s.check(C.WAIT_ENDS_WITHIN_BOUND, waited < BOUND + 60, waited=waited)
s.check(C.SILENT_DOMU_DESTROYED, not lab.domain_exists("hung"))
s.check(C.VBD_RELEASED, lab.wait_until(lambda: not lab.backend_vbds(), 30),
        vbds=lab.backend_vbds())
s.save()
