# The domU's half of the lifecycle run.  xvdb is a DIX disk whose
# connection dom0 saves, restores, migrates, re-attaches and changes under
# it; xvdc is the mailbox.  blkfront runs with 2 queues (2 vCPUs) and a
# 4-page ring.  dom0 says when to go on; each phase ends with a "state"
# record (the profile and blkfront's counters as they are then).
for d in xvdb xvdc; do
	wait_for /dev/$d 30 || { rec missing dev=$d; exit 1; }
done
MB=1048576
P=/sys/module/xen_blkfront/parameters
rec front_params max_ring_page_order="$(sysfs_value $P/max_ring_page_order)" \
	max_queues="$(sysfs_value $P/max_queues)" cpus="$(nproc)"

# state PHASE: xvdb's profile, its queues and blkfront's counters.
state() {
	I=/sys/block/xvdb/integrity
	F=/sys/bus/xen/devices/vbd-51728/statistics
	rec state phase="$1" format="$(sysfs_value $I/format)" \
		interval="$(sysfs_value $I/protection_interval_bytes)" \
		read_verify="$(sysfs_value $I/read_verify)" \
		write_generate="$(sysfs_value $I/write_generate)" \
		logical_block_size="$(sysfs_value /sys/block/xvdb/queue/logical_block_size)" \
		queues="$(ls /sys/block/xvdb/mq 2>/dev/null | wc -l)" \
		dix_req="$(sysfs_value $F/dix_req)" dix_err="$(sysfs_value $F/dix_err)" \
		dix_unprotected="$(sysfs_value $F/dix_unprotected)" \
		dix_refused="$(sysfs_value $F/dix_refused)"
}
# ended PHASE: the state at the end of PHASE, then wait, idle, while dom0
# reads blkback's counters.
ended() {
	state "$1"
	go "$1-done"
}
# as NAME CMD...: run labio, its record renamed NAME, tagged with the phase.
as() {
	name=$1
	shift
	labio "$@" | sed "s/\"record\": \"io\"/\"record\": \"$name\", \"phase\": \"$PHASE\"/" >> "$LAB_REC"
}
# go PHASE: tell dom0 we are ready for PHASE and wait until it says go.
go() {
	PHASE=$1
	rec ready phase="$1"
	mailbox_wait /dev/xvdc "$1" 300 || { rec mailbox_timeout phase="$1"; exit 1; }
}
# settle none|some: wait, bounded, until /dev/xvdb is there without (none)
# or with (some) a profile: after a re-attach the disk comes back.
settle() {
	i=0
	while [ $i -lt 300 ]; do
		if [ -e /dev/xvdb ]; then
			f=$(sysfs_value /sys/block/xvdb/integrity/format)
			if [ "$1" = none ]; then [ "$f" = none ] && return 0; else [ "$f" != none ] && return 0; fi
		fi
		i=$((i + 1))
		sleep 0.2
	done
	return 1
}
# busy PHASE BASE: 1 MiB chunks from BASE on, each written (64 KiB, 16 in
# flight) and verified, one after another, until dom0 says PHASE through
# the mailbox (it saves, restores or migrates the domain meanwhile); then
# every chunk once more.  Records "busy" for each chunk, "busy_again" for
# the second reads, "busy_end" with the number of chunks.
busy() {
	go "$1-start"
	PHASE=$1
	n=0
	rec ready phase="$1-running"
	while [ "$(dd if=/dev/xvdc bs=512 count=1 iflag=direct 2>/dev/null | tr -d '\0')" != "$1" ]; do
		off=$(($2 + (n % 24) * MB))
		as busy write /dev/xvdb $off $MB 65536 $((n + 1)) 16
		as busy verify /dev/xvdb $off $MB 65536 $((n + 1)) 16
		n=$((n + 1))
		[ $n -lt 2000 ] || { rec busy_timeout phase="$1"; exit 1; }
	done
	i=0
	while [ $i -lt $n ] && [ $i -lt 24 ]; do
		last=$i
		while [ $((last + 24)) -lt $n ]; do last=$((last + 24)); done
		as busy_again verify /dev/xvdb $(($2 + i * MB)) $MB 65536 $((last + 1)) 16
		i=$((i + 1))
	done
	rec busy_end phase="$1" chunks=$n
}

PHASE=connect
state connect

# 1. Rings and queues: each vCPU writes and verifies its own range (its
# own queue: blk-mq maps a CPU to a queue), 16 runs of 17 requests of
# 64 KiB each way.  Every write run ends with a flush, a one-slot
# request, so that pairs sit at odd and even slots in turn: with 17
# pairs a run (65 slots with the flush would keep the parity at every
# wrap of a 128-slot ring), pairs cross each ring's wrap index about 5
# times.  No merging: each I/O is one request.
go rings
RUN=$((17 * 65536))
echo 2 > /sys/block/xvdb/queue/nomerges
for cpu in 0 1; do
	(
		r=0
		while [ $r -lt 16 ]; do
			off=$(((cpu * 13 + r % 12) * MB))
			taskset -c $cpu labio write /dev/xvdb $off $RUN 65536 $((cpu * 100 + r)) 16
			taskset -c $cpu labio verify /dev/xvdb $off $RUN 65536 $((cpu * 100 + r)) 16
			r=$((r + 1))
		done
	) | sed "s/\"record\": \"io\"/\"record\": \"ring_io\", \"cpu\": $cpu/" > /tmp/ring$cpu &
done
wait
cat /tmp/ring0 /tmp/ring1 >> "$LAB_REC"
echo 0 > /sys/block/xvdb/queue/nomerges
ended rings

# 2. Save and restore onto a backend with DIX, I/O running throughout.
busy restored-dix $((24 * MB))
ended restored-dix

# 3. Save and restore onto a stock backend (no DIX), I/O running.
busy restored-stock $((24 * MB))
ended restored-stock

# 4. Save and restore onto DIX again.
busy restored-back $((24 * MB))
ended restored-back

# 5. Live migration to this host, I/O running (Debian's Xen cannot
# live-migrate a PV guest: the attempt fails and the guest goes on).
busy migrated $((24 * MB))
ended migrated

# 6. dom0 disables DIX and re-attaches the disk (xendix disable --now).
as setup write /dev/xvdb $((48 * MB)) $MB 65536 70 16
go disabled
settle none || rec settle_timeout phase=disabled
as disabled verify /dev/xvdb $((48 * MB)) $MB 65536 70 16
as disabled write /dev/xvdb $((52 * MB)) $MB 65536 73 16
as disabled verify /dev/xvdb $((52 * MB)) $MB 65536 73 16
ended disabled

# 7. ... and enables it again (xendix enable --now).
go enabled
settle some || rec settle_timeout phase=enabled
as enabled verify /dev/xvdb $((52 * MB)) $MB 65536 73 16
as enabled write /dev/xvdb $((53 * MB)) $MB 65536 74 16
as enabled verify /dev/xvdb $((53 * MB)) $MB 65536 74 16
ended enabled

# 8. dom0's volume loses its integrity profile under the connected vbd.
go lost
as lost_write write /dev/xvdb $((54 * MB)) 65536 65536 75
as lost_read verify /dev/xvdb $((53 * MB)) 65536 65536 74
ended lost

# 9. dom0 re-attaches the disk (xendix enable --now): no profile now.
go reattached-plain
settle none || rec settle_timeout phase=reattached-plain
as plain write /dev/xvdb $((54 * MB)) $MB 65536 76 16
as plain verify /dev/xvdb $((54 * MB)) $MB 65536 76 16
ended reattached-plain

# 10. dom0 moves the volume onto a disk of another profile (TYPE3,
# 4096-byte blocks) and re-attaches it.
go reattached-type3
settle some || rec settle_timeout phase=reattached-type3
as type3 write /dev/xvdb $((4 * MB)) $MB 65536 77 16
as type3 verify /dev/xvdb $((4 * MB)) $MB 65536 77 16
as type3 write /dev/xvdb $((5 * MB)) 4096 4096 78
as type3 verify /dev/xvdb $((5 * MB)) 4096 4096 78
ended reattached-type3
