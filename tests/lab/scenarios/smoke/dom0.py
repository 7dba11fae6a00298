"""Smoke: plain I/O through our rebuilt xen-blkfront and xen-blkback."""

import labguest as lab

s = lab.Scenario()
job = lab.job()

ours = job["srcversion"]["patched"]["xen-blkback"]
s.check("dom0 runs our xen-blkback, not Debian's",
        lab.module_srcversion("xen_blkback") == ours and "O" in lab.module_taint("xen_blkback"),
        srcversion=lab.module_srcversion("xen_blkback"), expected=ours,
        taint=lab.module_taint("xen_blkback"))

disk = lab.scsi_debug(dev_size_mb=64, dif=1, dix=1)
s.fact("backing_disk", disk)
s.fact("backing_integrity", lab.integrity(disk))

run = lab.run_domu("smoke", [f"phy:{disk},xvdb,w"], "domu-io.sh")
s.fact("domu_seconds", run.seconds)
s.check("the domU ran its script and powered off", run.finished,
        exit_status=run.exit_status, timed_out=run.timed_out, create_error=run.create_error)
xvdb = run.record("xvdb")
s.check("the domU sees /dev/xvdb", bool(xvdb) and xvdb[0].get("present") is True,
        record=xvdb[0] if xvdb else None)
io = {r["op"]: r for r in run.record("io")}
s.check("1 MiB of random data written with O_DIRECT", io.get("write", {}).get("ok") is True,
        record=io.get("write"))
s.check("the data reads back identical", io.get("verify", {}).get("ok") is True,
        record=io.get("verify"))
s.fact("domu_blkfront_messages", [l for l in run.dmesg if "blkfront" in l or "xvdb" in l])

s.check("after the domU is gone, no vbd is left in dom0",
        lab.wait_until(lambda: not lab.backend_vbds(), 30), vbds=lab.backend_vbds())
s.check("no BUG, WARNING or Oops in the domU's kernel log", not run.kernel_problems(),
        lines=run.kernel_problems())
s.check("no BUG, WARNING or Oops in dom0's kernel log", not lab.dom0_kernel_problems(),
        lines=lab.dom0_kernel_problems())
s.save()
