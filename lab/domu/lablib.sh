# Shell helpers for domU scripts (busybox sh).  Records are JSON objects,
# one a line, appended to $LAB_REC and read by the dom0 scenario.

# rec NAME KEY=VALUE...: a record; values that look like numbers or
# true/false stay bare, everything else is quoted.
rec() {
	name=$1
	shift
	line="{\"record\": \"$name\""
	for kv in "$@"; do
		k=${kv%%=*}
		v=${kv#*=}
		if ! echo "$v" | grep -qE '^(-?[0-9]+|true|false|null)$'; then
			v="\"$(echo "$v" | sed 's/\\/\\\\/g; s/"/\\"/g')\""
		fi
		line="$line, \"$k\": $v"
	done
	echo "$line}" >> "$LAB_REC"
}

# wait_for PATH SECONDS: wait until a path exists, bounded.
wait_for() {
	i=0
	while [ ! -e "$1" ]; do
		i=$((i + 1))
		[ $i -le $(($2 * 10)) ] || return 1
		sleep 0.1
	done
}

# sysfs_value FILE: the file's content, or "none" when it does not exist.
sysfs_value() {
	if [ -r "$1" ]; then cat "$1"; else echo none; fi
}

# mailbox_wait DEV TOKEN SECONDS: wait, bounded, until dom0 has written
# TOKEN to the mailbox disk DEV (see labguest.signal).
mailbox_wait() {
	i=0
	while [ "$(dd if="$1" bs=512 count=1 iflag=direct 2>/dev/null | tr -d '\0')" != "$2" ]; do
		i=$((i + 1))
		[ $i -le $(($3 * 5)) ] || return 1
		sleep 0.2
	done
}
