# A domU that only looks: which profile xvdb has, and 1 MiB of O_DIRECT I/O;
# then it waits, connected, until dom0 has read xenstore (mailbox xvdc).
wait_for /dev/xvdb 30 || { rec xvdb present=false; exit 1; }
wait_for /dev/xvdc 30 || { rec mailbox present=false; exit 1; }
I=/sys/block/xvdb/integrity
rec profile format="$(sysfs_value $I/format)" \
	interval="$(sysfs_value $I/protection_interval_bytes)"
labio write /dev/xvdb 0 1048576 131072 11 >> "$LAB_REC"
labio verify /dev/xvdb 0 1048576 131072 11 >> "$LAB_REC"
rec ready phase=done
mailbox_wait /dev/xvdc bye 120
