# The domU's half of the nvme scenario.  Disks: xvdb the NVMe namespace
# with PI (whole disk), xvdc the mailbox, xvdd a partition of the NVMe
# disk (at 1 MiB), xvde a device-mapper linear volume on it (at 40 MiB),
# xvdf a scsi_debug DIX disk that dom0 makes report PI errors.  xvdb's own
# I/O stays at 64 MiB and above, clear of the partition table, xvdd and
# xvde.  dom0 says when to go on through the mailbox.
for d in xvdb xvdc xvdd xvde xvdf; do
	wait_for /dev/$d 30 || { rec missing dev=$d; exit 1; }
done
MB=1048576
P=/sys/module/xen_blkfront/parameters
rec front_params max_indirect_segments="$(sysfs_value $P/max_indirect_segments)" \
	max_ring_page_order="$(sysfs_value $P/max_ring_page_order)"
for d in xvdb xvdd xvde xvdf; do
	I=/sys/block/$d/integrity
	Q=/sys/block/$d/queue
	rec profile dev=$d format="$(sysfs_value $I/format)" \
		interval="$(sysfs_value $I/protection_interval_bytes)" \
		tag_size="$(sysfs_value $I/tag_size)" \
		max_hw_sectors_kb="$(sysfs_value $Q/max_hw_sectors_kb)" \
		max_sectors_kb="$(sysfs_value $Q/max_sectors_kb)" \
		max_segments="$(sysfs_value $Q/max_segments)" \
		logical_block_size="$(sysfs_value $Q/logical_block_size)"
done
# Large requests: let the block layer build them as large as blkfront
# takes.  No merging on xvdb: each I/O of labio is one request (one pair),
# so that the load's AIO I/Os stay separate requests in flight.
for d in xvdb xvdd xvde; do
	cat /sys/block/$d/queue/max_hw_sectors_kb > /sys/block/$d/queue/max_sectors_kb
done
echo 2 > /sys/block/xvdb/queue/nomerges

# counters PHASE: blkfront's pair and error counts of every disk.
counters() {
	for d in xvdb xvdd xvde xvdf; do
		F=/sys/block/$d/device/statistics
		rec front_counters phase="$1" dev=$d dix_req="$(sysfs_value $F/dix_req)" \
			dix_err="$(sysfs_value $F/dix_err)"
	done
}
# as NAME CMD...: run labio, its record renamed NAME.
as() {
	name=$1
	shift
	labio "$@" | sed "s/\"record\": \"io\"/\"record\": \"$name\"/" >> "$LAB_REC"
}
# mark PHASE: when a phase starts (the domU's uptime), for the timings.
mark() {
	rec mark phase="$1" uptime="$(cut -d' ' -f1 /proc/uptime)"
}
# go PHASE: tell dom0 we are ready for PHASE and wait until it says go.
go() {
	rec ready phase="$1"
	mailbox_wait /dev/xvdc "$1" 180 || { rec mailbox_timeout phase="$1"; exit 1; }
}

# 1. Round trip: 4 KiB, 1 MiB and 4 MiB O_DIRECT writes, verified reads.
mark matrix
off=$((64 * MB))
for io in 4096:4096 $((2 * MB)):$MB $((4 * MB)):$((4 * MB)); do
	size=${io%%:*}
	bs=${io#*:}
	as matrix write /dev/xvdb $off $size $bs $((off + 1))
	as matrix verify /dev/xvdb $off $size $bs $((off + 1))
	off=$((off + size))
done
# A 1 MiB request that does not start on a 1 MiB (or 512 KiB) boundary.
as matrix write /dev/xvdb $((80 * MB + 12288)) $MB $MB 17
as matrix verify /dev/xvdb $((80 * MB + 12288)) $MB $MB 17
counters matrix

# 2. Reads whose PI blkback corrupts after the disk: 4 KiB and 1 MiB.
mark corrupt
R=$((84 * MB))
as setup write /dev/xvdb $R $((3 * MB)) $MB 99
go corrupt-reads
as corrupt_read verify /dev/xvdb $R 4096 4096 99
as corrupt_read verify /dev/xvdb $((R + 4096)) 4096 4096 99
as corrupt_read verify /dev/xvdb $((R + MB)) $MB $MB 99
as corrupt_read verify /dev/xvdb $((R + 2 * MB)) $MB $MB 99
as clean_read verify /dev/xvdb $R 8192 4096 99
as clean_read verify /dev/xvdb $((R + MB)) $((2 * MB)) $MB 99

# 3. Writes whose PI blkback corrupts before the disk: the disk refuses.
W=$((88 * MB))
go corrupt-writes
as corrupt_write write /dev/xvdb $W 4096 4096 7
as corrupt_write write /dev/xvdb $((W + 4096)) 4096 4096 7
as corrupt_write write /dev/xvdb $((W + MB)) $MB $MB 7
as corrupt_write write /dev/xvdb $((W + 2 * MB)) $MB $MB 7
as clean_write write /dev/xvdb $((W + 3 * MB)) $MB $MB 8
as clean_write verify /dev/xvdb $((W + 3 * MB)) $MB $MB 8
counters corrupt
go load

# 4. Load: two AIO writers at once (24 x 64 KiB and 8 x 1 MiB in flight;
# the NVMe disk is throttled, so requests queue up), then two AIO readers
# that verify.
mark load
L1=$((96 * MB))
L2=$((112 * MB))
labio write /dev/xvdb $L1 $((3 * MB)) 65536 31 24 > /tmp/load1 &
labio write /dev/xvdb $L2 $((8 * MB)) $MB 32 8 > /tmp/load2 &
wait
labio verify /dev/xvdb $L1 $((3 * MB)) 65536 31 24 > /tmp/load3 &
labio verify /dev/xvdb $L2 $((8 * MB)) $MB 32 8 > /tmp/load4 &
wait
cat /tmp/load1 /tmp/load2 /tmp/load3 /tmp/load4 |
	sed 's/"record": "io"/"record": "load"/' >> "$LAB_REC"
counters load

# 5. Other backings: the partition and the dm-linear volume.
mark backings
for d in xvdd xvde; do
	as backing write /dev/$d 0 $((2 * MB)) $MB 41
	as backing verify /dev/$d 0 $((2 * MB)) $MB 41
	as backing write /dev/$d $((8 * MB)) 65536 4096 42
	as backing verify /dev/$d $((8 * MB)) 65536 4096 42
done
counters backings

# 6. PI errors that the disk itself reports (scsi_debug error injection).
mark disk-errors
as setup write /dev/xvdf 0 65536 4096 5
go disk-errors
as disk_error verify /dev/xvdf 0 4096 4096 5
as disk_error verify /dev/xvdf 4096 4096 4096 5
go disk-errors-off
as disk_clean verify /dev/xvdf 0 65536 4096 5
counters end
mark end
go done
