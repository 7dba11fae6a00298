# The domU's half of the hostile run: fuzzfront (loaded by domu-init in
# place of xen-blkfront) runs its cases on its own once the backend is
# connected; turn its "fuzzfront:" kernel log lines into records, then
# stay until dom0 detaches the disk.
i=0
until dmesg | grep -q 'fuzzfront: done'; do
	i=$((i + 1))
	[ $i -le 900 ] || { rec fuzz_timeout; exit 1; }
	sleep 0.2
done
line=$(dmesg | sed -n 's/.*fuzzfront: connected //p' | head -n 1)
# shellcheck disable=SC2086  # key=value words
rec fuzz_connected $line
dmesg | sed -n 's/.*fuzzfront: case=/case=/p' | while read -r line; do
	# shellcheck disable=SC2086
	rec fuzz $line
done
line=$(dmesg | sed -n 's/.*fuzzfront: done //p' | head -n 1)
# shellcheck disable=SC2086
rec fuzz_done $line
# dom0 reads blkback's counters, then detaches xvdb: fuzzfront must close.
i=0
while [ -e /sys/bus/xen/devices/vbd-51728 ] && [ $i -lt 300 ]; do
	i=$((i + 1))
	sleep 0.2
done
if [ -e /sys/bus/xen/devices/vbd-51728 ]; then
	rec detached ok=false
else
	rec detached ok=true
fi
