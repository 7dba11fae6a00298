# The domU's half of the benchmark: runs what dom0 writes to the mailbox
# ("SEQ run VDEV FIO-ARGS..." or "SEQ bye"), one command at a time, and
# records fio's JSON with the domU's CPU time around it.  xvdb..xvde are
# the disks, xvdf the mailbox.
for d in xvdb xvdc xvdd xvde xvdf; do
	wait_for /dev/$d 60 || { rec missing disk=$d; exit 1; }
done
for d in xvdb xvdc xvdd xvde; do
	rec profile vdev=$d format="$(sysfs_value /sys/block/$d/integrity/format)" \
		max_hw_sectors_kb="$(sysfs_value /sys/block/$d/queue/max_hw_sectors_kb)" \
		queues="$(ls -d /sys/block/$d/mq/* 2>/dev/null | wc -l)"
done

rec tools fio="$(fio --version)"

# next_command LAST SECONDS: the mailbox's token once it differs from LAST.
next_command() {
	i=0
	while :; do
		t=$(dd if=/dev/xvdf bs=512 count=1 iflag=direct 2>/dev/null | tr -d '\0')
		if [ -n "$t" ] && [ "$t" != "$1" ]; then
			echo "$t"
			return 0
		fi
		i=$((i + 1))
		[ $i -le $(($2 * 10)) ] || return 1
		sleep 0.1
	done
}

last=
seq=0
while :; do
	rec ready seq=$seq
	cmd=$(next_command "$last" 900) || { rec mailbox_timeout seq=$seq; exit 1; }
	last=$cmd
	set -- $cmd
	seq=$1
	case "$2" in
	bye) break ;;
	run) ;;
	*) rec unknown_command seq=$seq; continue ;;
	esac
	dev=$3
	shift 3
	cpu0=$(head -n 1 /proc/stat)
	fio --name=bench --filename=/dev/$dev --direct=1 --output-format=json "$@" \
		> /tmp/fio.json 2> /tmp/fio.err
	rc=$?
	cpu1=$(head -n 1 /proc/stat)
	if [ $rc -eq 0 ] && [ -s /tmp/fio.json ]; then
		out=$(tr -d '\n\t' < /tmp/fio.json)
	else
		out=null
	fi
	err=$(tail -c 300 /tmp/fio.err | tr -d '\n"\\')
	echo "{\"record\": \"fio\", \"seq\": $seq, \"rc\": $rc, \"cpu0\": \"$cpu0\", \"cpu1\": \"$cpu1\", \"err\": \"$err\", \"out\": $out}" >> "$LAB_REC"
done
rec bye seq=$seq
