# The domU's half of the toggle run: which profile xvdb has at the start,
# after dom0 disabled DIX and re-attached the disk, and after it enabled
# it again (dom0 says when, through the mailbox on xvdc).
wait_for /dev/xvdb 30 || { rec xvdb present=false; exit 1; }
wait_for /dev/xvdc 30 || { rec mailbox present=false; exit 1; }
I=/sys/block/xvdb/integrity

profile() {
	rec profile phase="$1" format="$(sysfs_value $I/format)" \
		interval="$(sysfs_value $I/protection_interval_bytes)" \
		tag_size="$(sysfs_value $I/tag_size)"
}

# settle PHASE none|some: wait, bounded, until xvdb is back with (some) or
# without (none) a profile, then record what it has.
settle() {
	i=0
	while [ $i -lt 150 ]; do
		if [ -e /dev/xvdb ]; then
			f=$(sysfs_value $I/format)
			if [ "$2" = none ]; then [ "$f" = none ] && break; else [ "$f" != none ] && break; fi
		fi
		i=$((i + 1))
		sleep 0.2
	done
	profile "$1"
}

profile initial
rec ready phase=initial
mailbox_wait /dev/xvdc disabled 300 || { rec mailbox_timeout phase=disabled; exit 1; }
settle disabled none
rec ready phase=disabled
mailbox_wait /dev/xvdc enabled 300 || { rec mailbox_timeout phase=enabled; exit 1; }
settle enabled some
rec ready phase=enabled
mailbox_wait /dev/xvdc bye 300
