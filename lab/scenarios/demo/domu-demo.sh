# The domU's half of the demo: xvdb on a DIX disk, xvdc on a plain disk,
# xvdd the mailbox.  dom0 rots a block of each disk, then corrupts the PI
# of one read in flight, and says when (via the mailbox).
for d in xvdb xvdc xvdd; do
	wait_for /dev/$d 30 || { rec missing disk=$d; exit 1; }
done
for d in xvdb xvdc; do
	I=/sys/block/$d/integrity
	rec profile disk=$d format="$(sysfs_value $I/format)" \
		interval="$(sysfs_value $I/protection_interval_bytes)"
done

# 64 KiB of a known pattern on each disk, in 4 KiB O_DIRECT I/Os.
SEED=2016
for d in xvdb xvdc; do
	labio write /dev/$d 0 65536 4096 $SEED >> "$LAB_REC"
	labio verify /dev/$d 0 65536 4096 $SEED >> "$LAB_REC"
done
rec ready phase=rot
mailbox_wait /dev/xvdd rot 120 || { rec mailbox_timeout phase=rot; exit 1; }

# dom0 rewrote the third 4 KiB block of each disk behind our back.
ROT=8192
for d in xvdb xvdc; do
	labio verify /dev/$d $ROT 4096 4096 $SEED | sed 's/"io"/"rot_read"/' >> "$LAB_REC"
done
rec ready phase=inflight
mailbox_wait /dev/xvdd inflight 120 || { rec mailbox_timeout phase=inflight; exit 1; }

# blkback corrupts the PI of the next read with PI: the first block of xvdb.
labio verify /dev/xvdb 0 4096 4096 $SEED | sed 's/"io"/"inflight_read"/' >> "$LAB_REC"
labio verify /dev/xvdb 0 4096 4096 $SEED | sed 's/"io"/"reread"/' >> "$LAB_REC"
rec ready phase=done
mailbox_wait /dev/xvdd bye 120
