# Sourced by KIND/start.sh, run as
#   ip netns exec HOST unshare --pid --fork --mount-proc sh start.sh DIR BINARY
# so it is already in the host namespace and in a mount and PID namespace of
# its own: every mount below is private to it, and every process it starts
# dies with it. DIR is the test's directory (dispatcherStackDir in
# bed_stacks_test.go): DIR/run becomes the private /run.
set -eu
D=$1 BIN=$2
mount --make-rprivate /
mount --bind "$D/run" /run
# /usr/sbin/symroute-sync does not exist on the machine: an overlay adds an
# empty file there, and the freshly built binary is bind-mounted on it.
mount -t overlay overlay -o "lowerdir=$D/sbin:/usr/sbin" /usr/sbin
mount --bind "$BIN" /usr/sbin/symroute-sync

# start_bus makes /sys read-only (the network daemons then run without udev
# instead of waiting for it forever) and starts the private system bus with
# DIR/conf/dbus.conf, waiting for its socket.
start_bus() {
	mount -o remount,ro /sys
	export DBUS_SYSTEM_BUS_ADDRESS=unix:path=/run/dbus/system_bus_socket
	mkdir -p /run/dbus
	dbus-daemon --nofork --nopidfile --config-file="$D/conf/dbus.conf" &
	i=0
	while [ ! -S /run/dbus/system_bus_socket ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
}
