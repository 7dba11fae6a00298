# The domU's half of the hostile run: fuzzfront (loaded by domu-init in
# place of xen-blkfront) runs its cases on its own on every vbd once the
# backend is connected, one vbd after the other; turn its "fuzzfront:"
# kernel log lines into records, then stay until dom0 has detached every
# disk.
vbds=$(ls -d /sys/bus/xen/devices/vbd-* 2>/dev/null | wc -l)
rec fuzz_vbds count="$vbds"
i=0
until [ "$(dmesg | grep -c 'fuzzfront: done')" -ge "$vbds" ]; do
	i=$((i + 1))
	[ $i -le 900 ] || { rec fuzz_timeout; break; }
	sleep 0.2
done
# One awk for every line: "connected K=V...", "case=NAME K=V..." and
# "done K=V..." become fuzz_connected, fuzz and fuzz_done records (the
# done ones last), values as rec writes them.  A rec per line would fork
# some thirty times a line, minutes in a PV domU under TCG.
dmesg | awk '
function val(v) {
	if (v ~ /^(-?[0-9]+|true|false|null)$/)
		return v
	gsub(/\\/, "\\\\", v)
	gsub(/"/, "\\\"", v)
	return "\"" v "\""
}
{
	at = index($0, "fuzzfront: ")
	if (!at)
		next
	n = split(substr($0, at + 11), w, " ")
	first = 2
	if (w[1] == "connected")
		name = "fuzz_connected"
	else if (w[1] == "done")
		name = "fuzz_done"
	else if (w[1] ~ /^case=/) {
		name = "fuzz"
		first = 1
	} else
		next
	line = "{\"record\": \"" name "\""
	for (j = first; j <= n; j++) {
		eq = index(w[j], "=")
		if (eq)
			line = line ", \"" substr(w[j], 1, eq - 1) "\": " val(substr(w[j], eq + 1))
	}
	line = line "}"
	if (name == "fuzz_done")
		done[++nd] = line
	else
		print line
}
END {
	for (j = 1; j <= nd; j++)
		print done[j]
}' >> "$LAB_REC"
# dom0 reads blkback's counters, then detaches every disk: fuzzfront must
# close each (bounded: 240 s, for a busy host).
# Count, do not test ls's status: ls fails as soon as one of the vbds the
# glob named is gone, while the others are still there.
vbds_left() { ls -d /sys/bus/xen/devices/vbd-* 2>/dev/null | wc -l; }
i=0
while [ "$(vbds_left)" -gt 0 ] && [ $i -lt 1200 ]; do
	i=$((i + 1))
	sleep 0.2
done
left=$(vbds_left)
if [ "$left" -eq 0 ]; then
	rec detached ok=true
else
	rec detached ok=false left="$left"
fi
