#!/bin/sh
# Starts NetworkManager for an e2e test, in the private namespaces
# ../stack-common.sh describes (every process it starts, dbus-daemon,
# nm-dispatcher, the hooks, symroute-sync, dies with it). DIR is prepared
# by nmStackDir in bed_stacks_test.go.
. "$(dirname "$0")/../stack-common.sh"
mount --bind "$D/dispatcher.d" /usr/lib/NetworkManager/dispatcher.d
mount --bind "$D/empty" /etc/NetworkManager/dispatcher.d
mount --bind "$D/connections" /etc/NetworkManager/system-connections
mount --bind "$D/varlib" /var/lib/NetworkManager
start_bus
mkdir -p /run/NetworkManager
exec NetworkManager --debug --config="$D/conf/NetworkManager.conf" \
	--config-dir="$D/conf/conf.d" --system-config-dir="$D/conf/sysconf.d" \
	--intern-config=/var/lib/NetworkManager/intern.conf \
	--state-file=/var/lib/NetworkManager/NetworkManager.state \
	--pid-file=/run/NetworkManager/NetworkManager.pid
