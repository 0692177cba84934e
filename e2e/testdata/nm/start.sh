#!/bin/sh
# Starts NetworkManager for an e2e test. Run as
#   ip netns exec HOST unshare --pid --fork --mount-proc sh start.sh DIR BINARY
# so it is already in the host namespace and in a mount and PID namespace of
# its own: every mount below is private to it, and every process it starts
# (dbus-daemon, nm-dispatcher, the hooks, symroute-sync) dies with it.
# DIR is the test's directory, prepared by the test (see hooks_nm_*_test.go).
set -eu
D=$1 BIN=$2
mount --make-rprivate /
mount --bind "$D/run" /run
# /usr/sbin/symroute-sync does not exist on the machine: an overlay adds an
# empty file there, and the freshly built binary is bind-mounted on it.
mount -t overlay overlay -o "lowerdir=$D/sbin:/usr/sbin" /usr/sbin
mount --bind "$BIN" /usr/sbin/symroute-sync
mount --bind "$D/dispatcher.d" /usr/lib/NetworkManager/dispatcher.d
mount --bind "$D/empty" /etc/NetworkManager/dispatcher.d
mount --bind "$D/connections" /etc/NetworkManager/system-connections
mount --bind "$D/varlib" /var/lib/NetworkManager
# Read-only /sys: NetworkManager then runs without udev instead of waiting
# for it forever.
mount -o remount,ro /sys
export DBUS_SYSTEM_BUS_ADDRESS=unix:path=/run/dbus/system_bus_socket
mkdir -p /run/dbus /run/NetworkManager
dbus-daemon --nofork --nopidfile --config-file="$D/conf/dbus.conf" &
i=0
while [ ! -S /run/dbus/system_bus_socket ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
exec NetworkManager --debug --config="$D/conf/NetworkManager.conf" \
	--config-dir="$D/conf/conf.d" --system-config-dir="$D/conf/sysconf.d" \
	--intern-config=/var/lib/NetworkManager/intern.conf \
	--state-file=/var/lib/NetworkManager/NetworkManager.state \
	--pid-file=/run/NetworkManager/NetworkManager.pid
