#!/bin/sh
# The reproducer's /init in busybox ash (boot with rdinit=/init.sh, i.e.
# `make -C guest-images repro-process-start REPRO_CMDLINE_EXTRA=rdinit=/init.sh`):
# the same loop as init.c, but PID 1 is a shell that forks itself for every
# start, as the default guest's /init and shell do.  Same output lines.
echo "REPRO-INIT (busybox ash)"
export PATH=/bin
mount -t proc proc /proc
mount -t devtmpfs devtmpfs /dev
mount -t sysfs sysfs /sys
read -r cmdline </proc/cmdline
duration=240
checkers=1
for word in $cmdline; do
	case $word in
	repro.duration=*) duration=${word#*=} ;;
	repro.checkers=*) checkers=${word#*=} ;;
	esac
done
read -r online </sys/devices/system/cpu/online 2>/dev/null || online=0
last=${online##*-}
echo "REPRO-INFO cpus=$((last + 1)) duration=$duration checkers=$checkers driver=ash"
starts=0 died=0 tls_zero=0 other=0 checker_bad=0 pids=
if [ "$checkers" != 0 ]; then
	cpu=0
	while [ "$cpu" -le "$last" ]; do
		taskset -c "$cpu" /bin/tls-start --check &
		pids="$pids $!"
		starts=$((starts + 1))
		cpu=$((cpu + 1))
	done
fi
read -r up _ </proc/uptime
t0=${up%.*}
end=$((t0 + duration))
now=$t0
while [ "$now" -lt "$end" ]; do
	/bin/tls-start 7
	st=$?
	starts=$((starts + 1))
	case $st in
	0) ;;
	3)
		tls_zero=$((tls_zero + 1))
		echo "REPRO-TLS-ZERO start=$starts"
		;;
	1[3-9][0-9] | 2[0-9][0-9])
		died=$((died + 1))
		echo "REPRO-DIED start=$starts status=$st (signal $((st - 128)))"
		;;
	*)
		other=$((other + 1))
		echo "REPRO-FAILED start=$starts exit=$st"
		;;
	esac
	read -r up _ </proc/uptime
	now=${up%.*}
	[ $((starts % 10)) != 0 ] || echo "REPRO-PROGRESS starts=$starts died=$died t=$((now - t0)) s"
done
for pid in $pids; do
	kill -TERM "$pid"
	wait "$pid"
	st=$?
	if [ "$st" -gt 128 ] && [ "$st" != 143 ]; then
		died=$((died + 1))
		echo "REPRO-DIED checker pid=$pid status=$st"
	elif [ "$st" != 0 ]; then
		checker_bad=$((checker_bad + 1))
	fi
done
echo "REPRO-PROCESS-START starts=$starts died=$died tls_zero=$tls_zero other_failures=$other checker_bad=$checker_bad loop_s=$((now - t0)) cpus=$((last + 1))"
status=0
[ "$died$tls_zero$other$checker_bad" = 0000 ] || status=10
sleep 1 # let the console UART send the summary before the VM stops
# shellcheck disable=SC2059 # the format is the octal escape of the status byte
printf "\\$(printf %03o "$status")" | dd of=/dev/port bs=1 seek=1281 count=1 2>/dev/null
reboot -f
