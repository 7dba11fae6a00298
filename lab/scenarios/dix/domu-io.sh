# The pipeline: which xen-blkfront the domU runs, and 1 MiB of O_DIRECT I/O.
rec module name=xen-blkfront srcversion="$(sysfs_value /sys/module/xen_blkfront/srcversion)"
if wait_for /dev/xvdb 30; then
	rec xvdb present=true size_sectors="$(cat /sys/block/xvdb/size)" \
		integrity_format="$(sysfs_value /sys/block/xvdb/integrity/format)"
else
	rec xvdb present=false
	exit 1
fi
labio write /dev/xvdb 0 1048576 65536 20261125 >> "$LAB_REC"
labio verify /dev/xvdb 0 1048576 65536 20261125 >> "$LAB_REC"
