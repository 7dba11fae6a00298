# The domU's half of the observe scenario: xvdb on a DIX disk, xvdc on a
# plain one, xvdd the mailbox.  Each phase starts when dom0 says so.
for d in xvdb xvdc xvdd; do
	wait_for /dev/$d 30 || { rec missing disk=$d; exit 1; }
done
rec profile format="$(sysfs_value /sys/block/xvdb/integrity/format)"
MIB=1048576

# phase NAME: say ready for NAME and wait until dom0 starts it.
phase() {
	rec ready phase=$1
	mailbox_wait /dev/xvdd $1 300 || { rec mailbox_timeout phase=$1; exit 1; }
}

# The rate of 4 KiB DIX writes, probes detached (off) or attached (on).
rate() {
	labio write /dev/xvdb $((16 * MIB)) $((2 * MIB)) 4096 $2 | sed "s/\"io\"/\"rate_$1\"/" >> "$LAB_REC"
}

rate warm 0  # the first writes to a region are slower: not measured
phase rate-off-1
rate off 1

# Exactly N=8 DIX writes and M=5 DIX reads on xvdb, P=3 plain writes on xvdc.
phase counted
labio write /dev/xvdb 0 32768 4096 11 >> "$LAB_REC"
labio verify /dev/xvdb 0 20480 4096 11 >> "$LAB_REC"
labio write /dev/xvdc 0 12288 4096 12 >> "$LAB_REC"

phase rate-on
rate on 2
rate on 3

# Two writes whose PI blkback corrupts: the disk rejects them.
phase corrupt-writes
for i in 0 1; do
	labio write /dev/xvdb $((MIB + i * 4096)) 4096 4096 13 | sed 's/"io"/"corrupt_write"/' >> "$LAB_REC"
done

# A block written with PI, then rewritten by dom0 without: the disk fails
# the read.
labio write /dev/xvdb $((2 * MIB)) 4096 4096 14 >> "$LAB_REC"
phase rot-read
labio verify /dev/xvdb $((2 * MIB)) 4096 4096 14 | sed 's/"io"/"rot_read"/' >> "$LAB_REC"

# A write without PI (the guest's block layer generates none).
phase unprotected
echo 0 > /sys/block/xvdb/integrity/write_generate
labio write /dev/xvdb $((3 * MIB)) 4096 4096 15 | sed 's/"io"/"unprotected_write"/' >> "$LAB_REC"
echo 1 > /sys/block/xvdb/integrity/write_generate

phase rate-off-2
rate off 4
phase bye
