# The domU's half of the policy run: which profile each of its disks got
# (xvdb on the DIX disk, xvdc on a plain RAM disk), with no step in dom0
# but the udev rule.
wait_for /dev/xvdb 30 || { rec xvdb present=false; exit 1; }
wait_for /dev/xvdc 30 || { rec xvdc present=false; exit 1; }
wait_for /dev/xvdd 30 || { rec mailbox present=false; exit 1; }
for d in xvdb xvdc; do
	rec profile disk=$d format="$(sysfs_value /sys/block/$d/integrity/format)"
done
labio write /dev/xvdb 0 262144 65536 3 >> "$LAB_REC"
labio verify /dev/xvdb 0 262144 65536 3 >> "$LAB_REC"
rec ready phase=policy
mailbox_wait /dev/xvdd bye 300
