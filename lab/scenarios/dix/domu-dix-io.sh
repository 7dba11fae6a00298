# The domU's half of the DIX I/O run: profile, I/O matrix, then reads and
# writes whose PI dom0 corrupts in flight (it says when, via the mailbox).
wait_for /dev/xvdb 30 || { rec xvdb present=false; exit 1; }
wait_for /dev/xvdc 30 || { rec mailbox present=false; exit 1; }
I=/sys/block/xvdb/integrity
F=/sys/bus/xen/devices/vbd-51728/statistics
rec profile format="$(sysfs_value $I/format)" \
	interval="$(sysfs_value $I/protection_interval_bytes)" \
	tag_size="$(sysfs_value $I/tag_size)"

# size:bs pairs, each at its own offset; requests over 44 KiB go through
# indirect descriptors.
off=0
for io in 4096:4096 65536:65536 1048576:1048576 1048576:4096 262144:131072; do
	size=${io%%:*}
	bs=${io#*:}
	labio write /dev/xvdb $off $size $bs $((off + 1)) >> "$LAB_REC"
	labio verify /dev/xvdb $off $size $bs $((off + 1)) >> "$LAB_REC"
	off=$((off + size))
done
rec front_counters phase=matrix dix_req="$(sysfs_value $F/dix_req)" dix_err="$(sysfs_value $F/dix_err)"

# Reads whose PI blkback corrupts after the disk: each must fail.
base=$((8 * 1048576))
labio write /dev/xvdb $base 16384 16384 99 >> "$LAB_REC"
rec ready phase=corrupt-reads
mailbox_wait /dev/xvdc corrupt-reads 120 || { rec mailbox_timeout phase=corrupt-reads; exit 1; }
for i in 0 1 2 3; do
	labio verify /dev/xvdb $((base + i * 4096)) 4096 4096 99 | sed 's/"io"/"corrupt_read"/' >> "$LAB_REC"
done
labio verify /dev/xvdb $base 16384 4096 99 | sed 's/"io"/"clean_read"/' >> "$LAB_REC"

# Writes whose PI blkback corrupts before the disk: the disk must refuse them.
base=$((9 * 1048576))
rec ready phase=corrupt-writes
mailbox_wait /dev/xvdc corrupt-writes 120 || { rec mailbox_timeout phase=corrupt-writes; exit 1; }
for i in 0 1 2 3; do
	labio write /dev/xvdb $((base + i * 4096)) 4096 4096 7 | sed 's/"io"/"corrupt_write"/' >> "$LAB_REC"
done
labio write /dev/xvdb $((base + 16384)) 4096 4096 7 | sed 's/"io"/"clean_write"/' >> "$LAB_REC"
rec front_counters phase=end dix_req="$(sysfs_value $F/dix_req)" dix_err="$(sysfs_value $F/dix_err)" \
	dix_unprotected="$(sysfs_value $F/dix_unprotected)" dix_refused="$(sysfs_value $F/dix_refused)"
rec ready phase=done
mailbox_wait /dev/xvdc bye 120
