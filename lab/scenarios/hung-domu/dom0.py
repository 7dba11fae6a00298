"""hung-domu: a domU that never powers off is cut off at its bound."""

import time

import labguest as lab

BOUND = 20

s = lab.Scenario()
disk = lab.scsi_debug(dev_size_mb=16)
start = time.monotonic()
run = lab.run_domu("hung", [f"phy:{disk},xvdb,w"], "domu-hang.sh", timeout=BOUND)
waited = s.fact("waited_seconds", round(time.monotonic() - start, 1))
s.check("the wait for a silent domU is reported as timed out", run.timed_out)
s.check("the wait ends within its bound (plus destroy time)", waited < BOUND + 60, waited=waited)
s.check("the silent domU is destroyed", not lab.domain_exists("hung"))
s.check("its vbd is released", lab.wait_until(lambda: not lab.backend_vbds(), 30),
        vbds=lab.backend_vbds())
s.save()
