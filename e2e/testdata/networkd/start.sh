#!/bin/sh
# Starts systemd-networkd and networkd-dispatcher for an e2e test. Run as
#   ip netns exec HOST unshare --pid --fork --mount-proc sh start.sh DIR BINARY
# so it is already in the host namespace and in a mount and PID namespace of
# its own: every mount below is private to it, and every process it starts
# (dbus-daemon, networkd-dispatcher, the hooks, symroute-sync) dies with it.
# DIR is the test's directory, prepared by the test (see
# hooks_networkd_*_test.go); DIR/run holds the .network files in
# run/systemd/network.
set -eu
D=$1 BIN=$2
mount --make-rprivate /
mount --bind "$D/run" /run
# /usr/sbin/symroute-sync does not exist on the machine: an overlay adds an
# empty file there, and the freshly built binary is bind-mounted on it.
mount -t overlay overlay -o "lowerdir=$D/sbin:/usr/sbin" /usr/sbin
mount --bind "$BIN" /usr/sbin/symroute-sync
# Our drop-in at /usr/lib/systemd/networkd.conf.d/symroute.conf, where the
# package installs it (the directory does not exist on the machine).
mount -t overlay overlay -o "lowerdir=$D/usr-lib-systemd:/usr/lib/systemd" /usr/lib/systemd
mount --bind "$D/networkd-dispatcher" /usr/lib/networkd-dispatcher
mount --bind "$D/empty" /etc/networkd-dispatcher
mount --bind "$D/empty" /etc/systemd/network
# Read-only /sys: networkd then runs without udev instead of waiting for it.
mount -o remount,ro /sys
export DBUS_SYSTEM_BUS_ADDRESS=unix:path=/run/dbus/system_bus_socket
mkdir -p /run/dbus
dbus-daemon --nofork --nopidfile --config-file="$D/conf/dbus.conf" &
i=0
while [ ! -S /run/dbus/system_bus_socket ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
# networkd-dispatcher must listen before networkd starts, or it misses the
# first state changes.
networkd-dispatcher -v > /run/symtest/networkd-dispatcher.log 2>&1 &
i=0
while ! grep -q 'Startup complete' /run/symtest/networkd-dispatcher.log && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
SYSTEMD_LOG_TARGET=console exec /lib/systemd/systemd-networkd
