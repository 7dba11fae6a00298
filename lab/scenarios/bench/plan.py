"""What the benchmark runs: blkfront configurations (one domU each) and
fio workloads, each on both disks of every pair, interleaved and
repeated.  Pure data: dom0.py runs it, the host's tests read it."""

from __future__ import annotations

from dataclasses import dataclass, field

MIB = 1 << 20
REGION = 64 * MIB  # of each disk: written once before the runs, then read and rewritten


@dataclass(frozen=True)
class Workload:
    name: str
    rw: str
    bs: str
    iodepth: int

    def fio_args(self, runtime: int) -> list[str]:
        """fio's arguments (besides the disk and the output format)."""
        engine = "psync" if self.iodepth == 1 else "io_uring"
        return [f"--rw={self.rw}", f"--bs={self.bs}", f"--iodepth={self.iodepth}",
                f"--ioengine={engine}", f"--size={REGION // MIB}m", "--time_based",
                f"--runtime={runtime}", "--clat_percentiles=0", "--lat_percentiles=0"]


WORKLOADS = {w.name: w for w in (
    Workload("4k-randread-qd1", "randread", "4k", 1),
    Workload("4k-randwrite-qd1", "randwrite", "4k", 1),
    Workload("4k-randread-qd32", "randread", "4k", 32),
    Workload("4k-randwrite-qd32", "randwrite", "4k", 32),
    Workload("64k-read", "read", "64k", 1),
    Workload("64k-write", "write", "64k", 1),
    Workload("1m-read", "read", "1m", 1),
    Workload("1m-write", "write", "1m", 1),
    Workload("4m-read", "read", "4m", 1),
    Workload("4m-write", "write", "4m", 1),
)}
# Written once on every disk before the runs, so that every read finds
# data with valid PI (an NVMe namespace starts with zeroed PI).
PRECONDITION = ["--rw=write", "--bs=1m", "--iodepth=1", "--ioengine=psync",
                f"--size={REGION // MIB}m"]


@dataclass(frozen=True)
class Config:
    """One domU: blkfront's parameters, its vCPUs and blkback's
    persistent grants (a module parameter read at connect)."""

    name: str
    workloads: tuple[str, ...]
    front_params: dict[str, int] = field(default_factory=dict)
    vcpus: int = 1
    persistent: bool = True


FULL = (
    Config("default", ("4k-randread-qd1", "4k-randwrite-qd1", "4k-randread-qd32",
                       "4k-randwrite-qd32", "64k-read", "64k-write", "1m-read", "1m-write")),
    Config("indirect256", ("1m-read", "1m-write", "4m-read", "4m-write"),
           {"max_indirect_segments": 256}),
    Config("no-persistent", ("4k-randwrite-qd32", "1m-write"), persistent=False),
    Config("ring4-queues2", ("4k-randread-qd32", "4k-randwrite-qd32", "1m-write"),
           {"max_ring_page_order": 2, "max_queues": 2}, vcpus=2),
)
SMOKE = (Config("default", ("4k-randwrite-qd32", "1m-write")),)

# (kind, vdev with DIX, vdev without); the last vdev is the mailbox.
PAIRS = (("scsi_debug", "xvdb", "xvdc"), ("nvme", "xvdd", "xvde"))
MAILBOX = "xvdf"


def plan(smoke: bool) -> tuple[tuple[Config, ...], int, int]:
    """The configurations, repetitions and seconds a run."""
    return (SMOKE, 1, 2) if smoke else (FULL, 3, 3)
