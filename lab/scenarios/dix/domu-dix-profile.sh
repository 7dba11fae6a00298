# The domU's half of a profile run: what profile xvdb has, and 256 KiB of
# O_DIRECT I/O through it.
wait_for /dev/xvdb 30 || { rec xvdb present=false; exit 1; }
I=/sys/block/xvdb/integrity
rec profile format="$(sysfs_value $I/format)" \
	interval="$(sysfs_value $I/protection_interval_bytes)" \
	tag_size="$(sysfs_value $I/tag_size)"
labio write /dev/xvdb 0 262144 65536 5 >> "$LAB_REC"
labio verify /dev/xvdb 0 262144 65536 5 >> "$LAB_REC"
F=/sys/bus/xen/devices/vbd-51728/statistics
rec front_counters dix_req="$(sysfs_value $F/dix_req)" dix_err="$(sysfs_value $F/dix_err)"
