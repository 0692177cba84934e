#!/bin/sh
# Starts systemd-networkd and networkd-dispatcher for an e2e test, in the
# private namespaces ../stack-common.sh describes (every process it starts,
# dbus-daemon, networkd-dispatcher, the hooks, symroute-sync, dies with it).
# DIR is prepared by networkdStackDir in bed_stacks_test.go; DIR/run holds
# the .network files in run/systemd/network.
. "$(dirname "$0")/../stack-common.sh"
# Our drop-in at /usr/lib/systemd/networkd.conf.d/symroute.conf, where the
# package installs it (the directory does not exist on the machine).
mount -t overlay overlay -o "lowerdir=$D/usr-lib-systemd:/usr/lib/systemd" /usr/lib/systemd
mount --bind "$D/networkd-dispatcher" /usr/lib/networkd-dispatcher
mount --bind "$D/empty" /etc/networkd-dispatcher
mount --bind "$D/empty" /etc/systemd/network
start_bus
# networkd-dispatcher must listen before networkd starts, or it misses the
# first state changes.
networkd-dispatcher -v > /run/symtest/networkd-dispatcher.log 2>&1 &
i=0
while ! grep -q 'Startup complete' /run/symtest/networkd-dispatcher.log && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
SYSTEMD_LOG_TARGET=console exec /lib/systemd/systemd-networkd
