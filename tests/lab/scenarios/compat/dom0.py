"""Compatibility: every mix of old and new ends, and the admin toggle."""

import labguest as lab

s = lab.Scenario()
disk = lab.scsi_debug(dev_size_mb=32, dif=1, dix=1)
s.fact("dom0_profile", lab.integrity(disk))


def case(name: str, frontend: str, backend: str, enable: str | None = None) -> dict:
    lab.load_backend(backend)
    domu = lab.Domu(name, [f"phy:{disk},xvdb,w"], "domu-plain.sh", frontend=frontend)
    # Paused, so that the toggle is in place before blkback connects.
    domu.start(paused=True)
    if enable is not None:
        lab.xs_write(f"{domu.backend()}/data-integrity-enable", enable)
    domu.unpause()
    domu.wait_record("profile", 120)
    nodes = s.fact(f"{name}_xenstore", {
        "backend_feature": lab.xs_read(f"{domu.backend()}/feature-data-integrity"),
        "frontend_feature": lab.xs_read(f"{domu.frontend()}/feature-data-integrity")})
    run = domu.finish(180)
    guest = (run.record("profile") or [{}])[0]
    io = run.record("io")
    s.fact(f"{name}_domu_profile", guest)
    s.check(f"{name}: the domU has no integrity profile", guest.get("format") == "none",
            profile=guest)
    s.check(f"{name}: 1 MiB of O_DIRECT I/O works", run.finished and len(io) == 2
            and all(r["ok"] for r in io), io=io)
    s.check(f"{name}: no BUG, WARNING or Oops in the domU", not run.kernel_problems(),
            lines=run.kernel_problems())
    s.check(f"{name}: the domain is gone, grants released", lab.only_dom0_left())
    return nodes


nodes = case("new-front-old-back", "patched", "stock")
s.check("new-front-old-back: the stock backend never advertises the feature",
        nodes["backend_feature"] is None and nodes["frontend_feature"] == "1", nodes=nodes)

nodes = case("old-front-new-back", "stock", "patched")
s.check("old-front-new-back: blkback advertises, the stock frontend does not opt in",
        nodes["backend_feature"] == "1" and nodes["frontend_feature"] is None, nodes=nodes)

nodes = case("admin-disabled", "patched", "patched", enable="0")
s.check("admin-disabled: blkback advertises feature-data-integrity = 0",
        nodes["backend_feature"] == "0" and nodes["frontend_feature"] == "1", nodes=nodes)

lab.check_dom0_clean(s)
s.save()
