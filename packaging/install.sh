#!/bin/sh
# Installs symroute into a package's staging tree: the one list of what goes
# where, with which mode, for both the deb (debian/rules) and the rpm
# (symroute-sync.spec). packaging/test.sh checks the built packages against
# the same expectations.
#
#   packaging/install.sh deb|rpm BINARY DESTDIR
#
# Hooks are copied from where their authors keep them, byte for byte: the
# end-to-end tests run exactly these files. Ownership is root:root in both
# packages (dpkg-deb --root-owner-group; the spec's %attr/%defattr), so only
# modes are set here.
set -eu
# Parent directories made by install -D follow the umask.
umask 022

if [ $# -ne 3 ]; then
	echo "usage: $0 deb|rpm BINARY DESTDIR" >&2
	exit 2
fi
flavor=$1
bin=$2
dest=$3
src=$(cd "$(dirname "$0")/.." && pwd)

case $flavor in
deb)
	# Debian 12 keeps units in /lib/systemd/system (lintian's
	# systemd-service-file-outside-lib); the same path works on merged-/usr
	# Ubuntu 24.04.
	unitdir=/lib/systemd/system
	# dhcpcd-base's hook directory.
	dhcpcd_hooks=/usr/lib/dhcpcd/dhcpcd-hooks
	;;
rpm)
	unitdir=/usr/lib/systemd/system
	# Fedora/EPEL build dhcpcd with the default libexecdir.
	dhcpcd_hooks=/usr/libexec/dhcpcd-hooks
	;;
*)
	echo "install.sh: flavor must be deb or rpm, not $flavor" >&2
	exit 2
	;;
esac

# put MODE SOURCE TARGET: install one file, failing loudly if the source is
# missing (a package without one of its hooks must not build).
put() {
	if [ ! -f "$src/$2" ]; then
		echo "install.sh: missing $2" >&2
		exit 1
	fi
	install -D -m "$1" "$src/$2" "$dest$3"
}

install -D -m 0755 "$bin" "$dest/usr/sbin/symroute-sync"
put 0644 packaging/man/symroute-sync.8 /usr/share/man/man8/symroute-sync.8
put 0644 packaging/symroute.conf /etc/symroute/symroute.conf
put 0644 packaging/iproute2/symroute.conf /etc/iproute2/rt_protos.d/symroute.conf
put 0644 packaging/tmpfiles.d/symroute.conf /usr/lib/tmpfiles.d/symroute.conf
for unit in symroute-sync.service symroute-sync.timer symroute-listen.service; do
	put 0644 "packaging/systemd/$unit" "$unitdir/$unit"
done

# NetworkManager runs only root-owned, non-group/other-writable, non-setuid
# scripts.
put 0755 nm-dispatcher/90-symroute /usr/lib/NetworkManager/dispatcher.d/90-symroute

# networkd-dispatcher runs a script only if it is exactly 0755 root:root.
# Copies, not symlinks: it checks each path it runs.
for state in routable degraded configured no-carrier off carrier; do
	install -d -m 0755 "$dest/usr/lib/networkd-dispatcher/$state.d"
	put 0755 networkd-dispatcher/50-symroute "/usr/lib/networkd-dispatcher/$state.d/50-symroute"
done
put 0644 networkd-dispatcher/symroute-networkd.conf /usr/lib/systemd/networkd.conf.d/symroute.conf

# dhcpcd sources its hooks: no exec bit needed.
put 0644 dhcp-hooks/dhcpcd-hook "$dhcpcd_hooks/70-symroute"

case $flavor in
deb)
	# Debian's dhclient-script sources exit hooks (run-parts --list: no
	# dot in the name).
	put 0644 dhcp-hooks/dhclient-exit-hook /etc/dhcp/dhclient-exit-hooks.d/symroute
	put 0755 dhcp-hooks/ifupdown-hook /etc/network/if-up.d/symroute
	put 0755 dhcp-hooks/ifupdown-hook /etc/network/if-post-down.d/symroute
	;;
rpm)
	# RHEL's dhclient-script sources dhclient.d/*.sh that are executable and
	# calls NAME_config / NAME_restore.
	put 0755 dhcp-hooks/dhclient.d-symroute.sh /etc/dhcp/dhclient.d/symroute.sh
	# RHEL's rpm compresses man pages itself; Debian's rpm does not, and
	# an uncompressed one would then differ from RHEL's package.
	gzip -9n "$dest/usr/share/man/man8/symroute-sync.8"
	;;
esac
