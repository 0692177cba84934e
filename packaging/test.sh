#!/usr/bin/env bash
# Packaging tests: builds the deb and the rpm from a copy of this tree, lints
# them, scores the systemd units' hardening, and installs both packages into
# a throwaway Debian root, never into this machine's own:
#
#  1. in a chroot inside a fresh network namespace (unshare -m -n), where no
#     systemd runs: files, modes, owners, conffiles and the timer's
#     enablement link, and proof that the maintainer scripts run no pass
#     and no flush there (an image build must not touch the build host);
#  2. in the same root booted by systemd-nspawn --private-network (its own
#     network namespace, systemd as PID 1): upgrade from a stand-in for the
#     original symrouted package, the first pass run through systemd inside
#     the hardened unit, the listener, reinstall, removal with flush, purge;
#     then the rpm's scriptlets under the same systemd.
#
# The host's rules, routes, links and addresses are compared before and
# after: any difference fails the run.
#
#   sudo packaging/test.sh
#   sudo SYMROUTE_PKGTEST_SUITE=trixie packaging/test.sh   # a Debian 13 root
#
# Needs root, the Debian mirror (debootstrap; the root is cached under
# /var/cache/symroute-pkgtest, SYMROUTE_PKGTEST_CACHE= disables that) and Go
# 1.22 or newer. Installs the Debian packages it drives when missing.
# KEEP=1 keeps the work directory. Ends with "N passed, N failed".

# The scripts handed to sh -c, chroot and the container are single-quoted
# on purpose: they expand there, not here.
# shellcheck disable=SC2016
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"
export LC_ALL=C.UTF-8

# Highest systemd-analyze security exposure allowed for a service.
max_exposure=2.0
# The Debian release of the throwaway root: bookworm (12) by default,
# trixie (13) too in ./test.sh.
suite=${SYMROUTE_PKGTEST_SUITE:-bookworm}
mirror=${SYMROUTE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache_dir=${SYMROUTE_PKGTEST_CACHE-/var/cache/symroute-pkgtest}

if [ "$(id -u)" != 0 ]; then
	echo "packaging/test.sh needs root (debootstrap, network namespaces, systemd-nspawn)" >&2
	if [ "${CI:-}" = true ]; then exit 1; fi
	echo "SKIP: not root"
	exit 0
fi

pkgs=(dpkg-dev debhelper lintian rpm rpmlint debootstrap systemd systemd-container
	iproute2 util-linux groff-base man-db xz-utils git)
if command -v apt-get >/dev/null; then
	missing=()
	for p in "${pkgs[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		echo "installing packaging test dependencies: ${missing[*]}"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	fi
fi

passed=0
failed=0
ok() { passed=$((passed + 1)); printf 'ok   %s\n' "$*"; }
bad() { failed=$((failed + 1)); printf 'FAIL %s\n' "$*"; }
# check DESCRIPTION COMMAND...: one result per call.
check() {
	local what=$1
	shift
	if "$@"; then ok "$what"; else bad "$what"; fi
}
section() { printf '\n== %s\n' "$*"; }
die() {
	printf 'FAIL %s\n' "$*"
	failed=$((failed + 1))
	echo "$passed passed, $failed failed"
	exit 1
}

work=$(mktemp -d /var/tmp/symroute-pkgtest.XXXXXX)
root=$work/root
nspawn_pid=
cleanup() {
	if declare -F stop_container >/dev/null; then stop_container || :; fi
	if [ "${KEEP:-}" = 1 ]; then
		echo "kept $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT

# The host's own network, as text to compare before and after; lifetimes
# and expiry countdowns change by themselves and are left out.
host_net() {
	local f
	for f in 4 6; do
		ip -"$f" rule show
		ip -"$f" route show table all
		ip -"$f" -o addr show
	done
	ip -o link show
}
host_net_state() {
	host_net 2>&1 | sed -E 's/ (expires|valid_lft|preferred_lft) [^ ]+//g'
}
host_net_state >"$work/host-net.before"

# ---------------------------------------------------------------------------
section "sources"

hooks=(nm-dispatcher/90-symroute networkd-dispatcher/50-symroute
	networkd-dispatcher/symroute-networkd.conf dhcp-hooks/dhclient-exit-hook
	dhcp-hooks/dhclient.d-symroute.sh dhcp-hooks/dhcpcd-hook dhcp-hooks/ifupdown-hook)
for h in "${hooks[@]}"; do
	check "hook $h present" test -f "$h"
done

deb_version=$(dpkg-parsechangelog -l packaging/debian/changelog -SVersion)
rpm_version=$(sed -n 's/^Version:[[:space:]]*//p' packaging/rpm/symroute-sync.spec)
check "spec Version ($rpm_version) = changelog version ($deb_version)" test "$rpm_version" = "$deb_version"

# Unit contents the issue demands, and directives that would point a pass
# at an empty namespace or lose the lock directory.
unitdir=packaging/systemd
has() { grep -Eq "^$2\$" "$unitdir/$1"; }
hasnt() { ! grep -Eq "^$2" "$unitdir/$1"; }
for svc in symroute-sync.service symroute-listen.service; do
	check "$svc: CapabilityBoundingSet=CAP_NET_ADMIN" has "$svc" 'CapabilityBoundingSet=CAP_NET_ADMIN'
	check "$svc: NoNewPrivileges" has "$svc" 'NoNewPrivileges=yes'
	check "$svc: ProtectSystem=strict" has "$svc" 'ProtectSystem=strict'
	check "$svc: RuntimeDirectory=symroute, preserved at stop" sh -c '
		grep -qx "RuntimeDirectory=symroute" "$0" && grep -qx "RuntimeDirectoryPreserve=yes" "$0"' "$unitdir/$svc"
	check "$svc: AF_NETLINK allowed" has "$svc" 'RestrictAddressFamilies=AF_NETLINK( AF_UNIX)?'
	for d in PrivateNetwork PrivateUsers NetworkNamespacePath JoinsNamespaceOf; do
		check "$svc: no $d=" hasnt "$svc" "$d="
	done
done
check "listener: no ReadWritePaths=" hasnt symroute-listen.service 'ReadWritePaths='
check "oneshot: writes only the collector directory, which may be missing" sh -c '
	[ "$(grep "^ReadWritePaths=" "$0")" = "ReadWritePaths=-/var/lib/prometheus/node-exporter" ]' "$unitdir/symroute-sync.service"
check "oneshot: Type=oneshot" has symroute-sync.service 'Type=oneshot'
check "oneshot: one pass from the timer, gauges for the collector" has symroute-sync.service 'ExecStart=/usr/sbin/symroute-sync --once --trigger timer --metrics-file /var/lib/prometheus/node-exporter/symroute.prom'
check "listener: --listen" has symroute-listen.service 'ExecStart=/usr/sbin/symroute-sync --listen'
check "listener: Type=notify" has symroute-listen.service 'Type=notify'
check "listener: Restart=on-failure" has symroute-listen.service 'Restart=on-failure'
check "listener: AF_UNIX for D-Bus" has symroute-listen.service 'RestrictAddressFamilies=AF_NETLINK AF_UNIX'
check "listener: memory bounded (GOMEMLIMIT, MemoryMax) and restarted" sh -c '
	grep -qx "Environment=GOMEMLIMIT=128MiB" "$0" && grep -qx "MemoryMax=160M" "$0" && grep -qx "Restart=on-failure" "$0"' "$unitdir/symroute-listen.service"
check "tmpfiles.d makes /run/symroute 0755 root root" \
	grep -Eq '^d /run/symroute 0755 root root' packaging/tmpfiles.d/symroute.conf

# Seconds of a systemd time span such as 15s, 1min, 50s or 1min 10s.
span_seconds() {
	local s=0 n u t
	for t in $1; do
		n=${t%%[a-z]*}
		u=${t#"$n"}
		case $u in
		"" | s | sec) s=$((s + n)) ;;
		m | min) s=$((s + 60 * n)) ;;
		*) echo 999999; return ;;
		esac
	done
	echo "$s"
}
timer_at_most_a_minute() {
	local v
	v=$(sed -n "s/^$1=//p" "$unitdir/symroute-sync.timer")
	[ -n "$v" ] && [ "$(span_seconds "$v")" -le 60 ]
}
check "timer: OnBootSec <= 1min" timer_at_most_a_minute OnBootSec
check "timer: OnUnitActiveSec + AccuracySec <= 1min" sh -c '
	a=$(sed -n "s/^OnUnitActiveSec=\([0-9]*\)s$/\1/p" "$0"); b=$(sed -n "s/^AccuracySec=\([0-9]*\)s$/\1/p" "$0")
	[ -n "$a" ] && [ -n "$b" ] && [ $((a + b)) -le 60 ]' "$unitdir/symroute-sync.timer"
check "timer: WantedBy=timers.target" has symroute-sync.timer 'WantedBy=timers.target'

section "hardening: systemd-analyze security --offline=true"
exposure_ok() {
	local unit=$1 out score
	out=$(systemd-analyze security --offline=true --no-pager "$unitdir/$unit" 2>&1) || :
	printf '%s\n' "$out" | grep -E '^(✗|→)|Overall' || :
	score=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
	echo "exposure $unit: ${score:-none} (target <= $max_exposure)"
	[ -n "$score" ] && awk -v s="$score" -v m="$max_exposure" 'BEGIN { exit !(s <= m) }'
}
for svc in symroute-sync.service symroute-listen.service; do
	check "$svc exposure <= $max_exposure" exposure_ok "$svc"
done

section "man page and default config"
bindir=$work/bin
mkdir -p "$bindir"
packaging/build.sh test "$bindir/symroute-sync" >/dev/null
man_clean() {
	local warn
	warn=$(MANROFFSEQ='' MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z packaging/man/symroute-sync.8 2>&1 >/dev/null)
	[ -z "$warn" ] || { printf '%s\n' "$warn"; return 1; }
}
check "man page renders without groff warnings" man_clean
# Every flag --help lists is in the man page (roff writes - as \-).
flags=$("$bindir/symroute-sync" --help | grep -oE -- '(^|[ [])--?[a-z][a-z-]*' | sed 's/^[ [ ]*//' | sort -u)
for f in $flags; do
	check "man page documents $f" grep -qF -- "$(printf '%s' "$f" | sed 's/-/\\-/g')" packaging/man/symroute-sync.8
done
for w in "EXIT STATUS" TRIGGERS OWNERSHIP CLASHES "CONFIGURATION FILE" FILES; do
	check "man page has section $w" grep -q "^\.SH $w" packaging/man/symroute-sync.8
done

# The packaged config shows the defaults commented out: uncommented, it
# must be accepted and plan exactly what no config plans. Links in a fresh
# network namespace: one managed, and ones the default excludes skip.
conf_is_defaults() {
	local uncommented=$work/uncommented.conf empty=$work/empty.conf
	: >"$empty"
	chmod 0644 "$empty"
	sed -E -n 's/^#([a-z-]+ = .*)$/\1/p' packaging/symroute.conf >"$uncommented"
	chmod 0644 "$uncommented"
	[ "$(grep -c . "$uncommented")" -ge 4 ] || return 1
	unshare -n sh -eu -c '
		ip link set lo up
		ip link add up0 type veth peer name up0p
		ip link add veth7 type veth peer name docker0
		for l in up0 up0p veth7 docker0; do ip link set "$l" up; done
		ip addr add 192.0.2.2/24 dev up0
		ip addr add 198.51.100.2/24 dev veth7
		ip addr add 203.0.113.2/24 dev docker0
		ip route add default via 192.0.2.1 dev up0
		a=$("$1" --dry-run --config "$3" 2>&1)
		b=$("$1" --dry-run --config "$2" 2>&1)
		echo "$b" | grep -q "rule add .*from 192.0.2.2/32" || { echo "no rule for up0: $b"; exit 1; }
		! echo "$b" | grep -Eq "rule add .*from (198.51.100.2|203.0.113.2)/32" || { echo "rules for excluded links: $b"; exit 1; }
		[ "$a" = "$b" ] || { printf "defaults:\n%s\nconfig:\n%s\n" "$a" "$b"; exit 1; }
	' sh "$bindir/symroute-sync" "$uncommented" "$empty"
}
check "default config, uncommented, equals the built-in defaults" conf_is_defaults

# ---------------------------------------------------------------------------
section "build"
# A copy of what a commit would hold (tracked files and new ones git does
# not ignore), so the build neither sees stray binaries nor leaves its
# products in the work tree or its parent.
src=$work/src/symroute-sync-$deb_version
mkdir -p "$src"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	git ls-files -z --cached --others --exclude-standard |
		while IFS= read -r -d '' f; do
			if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi
		done |
		tar --null -T - -cf - | tar -xf - -C "$src"
else
	tar --exclude-vcs -cf - . | tar -xf - -C "$src"
fi
# The caller's Go caches (dpkg-buildpackage keeps HOME; debian/rules
# passes them on), so a warm module cache means no network.
export GOMODCACHE="${GOMODCACHE:-$(go env GOMODCACHE)}" GOCACHE="${GOCACHE:-$(go env GOCACHE)}"
if (cd "$src" && dpkg-buildpackage -us -uc) >"$work/deb-build.log" 2>&1; then
	ok "dpkg-buildpackage -us -uc"
else
	tail -40 "$work/deb-build.log"
	die "dpkg-buildpackage -us -uc"
fi
deb=$(ls "$work"/src/symroute-sync_"$deb_version"_*.deb)
changes=$(ls "$work"/src/symroute-sync_"$deb_version"_*.changes)
rpmtop=$work/rpmbuild
if (cd "$src" && RPMBUILD_TOPDIR=$rpmtop ./buildrpm.sh) >"$work/rpm-build.log" 2>&1; then
	ok "./buildrpm.sh"
else
	tail -40 "$work/rpm-build.log"
	die "./buildrpm.sh"
fi
rpmfile=$(ls "$rpmtop"/RPMS/*/symroute-sync-"$rpm_version"-*.rpm)
srpm=$(ls "$rpmtop"/SRPMS/symroute-sync-"$rpm_version"-*.src.rpm)
echo "built: $(basename "$deb") $(basename "$rpmfile") $(basename "$srpm")"

# ---------------------------------------------------------------------------
section "lint"
# Tags left after the overrides and filters, each justified in the README's
# packaging section. An error, or a warning not listed here, fails the run.
lintian_expected='named-copyright-for-single-installable'
rpmlint_expected='unversioned-explicit-obsoletes|obsolete-not-provided|position-independent-executable-suggested|no-manual-page-for-binary|no-buildroot-tag|invalid-url|invalid-license|files-duplicate'
lintian --pedantic "$changes" >"$work/lintian.txt" 2>&1 || :
grep -v '^running with root' "$work/lintian.txt" || :
check "lintian: no errors" sh -c '! grep -q "^E: " "$0"' "$work/lintian.txt"
check "lintian: only the listed warnings" sh -c '! grep "^W: " "$0" | grep -Evq "$1"' "$work/lintian.txt" "$lintian_expected"
rpmlint -c packaging/rpm/rpmlint.toml "$rpmfile" "$srpm" packaging/rpm/symroute-sync.spec >"$work/rpmlint.txt" 2>&1 || :
grep -E ': [EW]: |checked;' "$work/rpmlint.txt" || :
check "rpmlint: 0 errors" grep -q ' 0 errors' "$work/rpmlint.txt"
check "rpmlint: only the listed warnings" sh -c '! grep ": W: " "$0" | grep -Evq "$1"' "$work/rpmlint.txt" "$rpmlint_expected"

# ---------------------------------------------------------------------------
# What each package must install: FLAVOR PATH MODE SOURCE CONFFILE, where
# FLAVOR is deb, rpm or both, SOURCE the repository file it must equal byte
# for byte (- for the binary, man for the compressed man page) and
# CONFFILE "conf" for dpkg conffiles.
expected() {
	local s
	cat <<-EOF
		both /usr/sbin/symroute-sync 755 - -
		deb /usr/share/lintian/overrides/symroute-sync 644 packaging/debian/symroute-sync.lintian-overrides -
		both /usr/share/man/man8/symroute-sync.8.gz 644 man -
		both /etc/symroute/symroute.conf 644 packaging/symroute.conf conf
		both /etc/iproute2/rt_protos.d/symroute.conf 644 packaging/iproute2/symroute.conf conf
		both /usr/lib/tmpfiles.d/symroute.conf 644 packaging/tmpfiles.d/symroute.conf -
		deb /lib/systemd/system/symroute-sync.service 644 packaging/systemd/symroute-sync.service -
		deb /lib/systemd/system/symroute-sync.timer 644 packaging/systemd/symroute-sync.timer -
		deb /lib/systemd/system/symroute-listen.service 644 packaging/systemd/symroute-listen.service -
		rpm /usr/lib/systemd/system/symroute-sync.service 644 packaging/systemd/symroute-sync.service -
		rpm /usr/lib/systemd/system/symroute-sync.timer 644 packaging/systemd/symroute-sync.timer -
		rpm /usr/lib/systemd/system/symroute-listen.service 644 packaging/systemd/symroute-listen.service -
		both /usr/lib/NetworkManager/dispatcher.d/90-symroute 755 nm-dispatcher/90-symroute -
		both /usr/lib/systemd/networkd.conf.d/symroute.conf 644 networkd-dispatcher/symroute-networkd.conf -
		deb /usr/lib/dhcpcd/dhcpcd-hooks/70-symroute 644 dhcp-hooks/dhcpcd-hook -
		rpm /usr/libexec/dhcpcd-hooks/70-symroute 644 dhcp-hooks/dhcpcd-hook -
		deb /etc/dhcp/dhclient-exit-hooks.d/symroute 644 dhcp-hooks/dhclient-exit-hook conf
		deb /etc/network/if-up.d/symroute 755 dhcp-hooks/ifupdown-hook conf
		deb /etc/network/if-post-down.d/symroute 755 dhcp-hooks/ifupdown-hook conf
		rpm /etc/dhcp/dhclient.d/symroute.sh 755 dhcp-hooks/dhclient.d-symroute.sh -
	EOF
	for s in routable degraded configured no-carrier off carrier; do
		echo "both /usr/lib/networkd-dispatcher/$s.d/50-symroute 755 networkd-dispatcher/50-symroute -"
	done
}

# check_tree FLAVOR ROOT: every expected file is in ROOT with its mode,
# root:root, and the bytes of its source; the networkd-dispatcher
# directories are 0755 root:root; nothing is setuid.
check_tree() {
	local flavor=$1 r=$2 fl path mode source got
	while read -r fl path mode source _; do
		[ "$fl" = both ] || [ "$fl" = "$flavor" ] || continue
		if [ ! -f "$r$path" ]; then
			bad "$flavor: $path installed"
			continue
		fi
		got=$(stat -c '%a %U:%G' "$r$path")
		check "$flavor: $path $mode root:root ($got)" test "$got" = "$mode root:root"
		case $source in
		-) ;;
		man) check "$flavor: $path is the man page" sh -c 'zcat "$0" | cmp -s - "$1"' "$r$path" packaging/man/symroute-sync.8 ;;
		*) check "$flavor: $path is $source byte for byte" cmp -s "$r$path" "$source" ;;
		esac
	done < <(expected)
	for s in routable degraded configured no-carrier off carrier; do
		got=$(stat -c '%a %U:%G' "$r/usr/lib/networkd-dispatcher/$s.d")
		check "$flavor: networkd-dispatcher/$s.d is 755 root:root ($got)" test "$got" = "755 root:root"
	done
	check "$flavor: no setuid or setgid file" sh -c '[ -z "$(find "$0/usr/sbin/symroute-sync" "$0/usr/lib/NetworkManager" "$0/usr/lib/networkd-dispatcher" "$0/etc/symroute" -perm /6000)" ]' "$r"
}

section "package contents"
# Nothing unexpected ships: regular files beyond the list are docs only.
listed() { expected | awk -v f="$1" '$1 == "both" || $1 == f { print $2 }' | sort; }
dpkg-deb -c "$deb" | awk '$1 ~ /^-/ { sub(/^\./, "", $6); print $6 }' | grep -v '^/usr/share/doc/' | sort >"$work/deb-files"
check "deb ships exactly the expected files (and docs)" diff -u <(listed deb) "$work/deb-files"
rpm -qplv "$rpmfile" | awk '$1 ~ /^-/ { print $NF }' | grep -Ev '^/usr/share/doc/' | sort >"$work/rpm-files"
check "rpm ships exactly the expected files (and docs)" diff -u <(listed rpm) "$work/rpm-files"
check "deb conffiles are the expected ones" diff -u \
	<(expected | awk '($1 == "both" || $1 == "deb") && $5 == "conf" { print $2 }' | sort) \
	<(dpkg-deb --ctrl-tarfile "$deb" | tar -xOf - ./conffiles | sort)
check "rpm %config: symroute.conf and rt_protos.d (noreplace)" diff -u \
	<(printf '%s\n' /etc/iproute2/rt_protos.d/symroute.conf /etc/symroute/symroute.conf) \
	<(rpm -qpc "$rpmfile" | sort)
check "deb: Conflicts and Replaces symrouted" sh -c '
	dpkg-deb -f "$0" Conflicts | grep -qw symrouted && dpkg-deb -f "$0" Replaces | grep -qw symrouted' "$deb"
check "rpm: Obsoletes and Conflicts symrouted" sh -c '
	rpm -qp --obsoletes "$0" | grep -qx symrouted && rpm -qp --conflicts "$0" | grep -qx symrouted' "$rpmfile"
check "deb binary reports the package version" sh -c '
	d=$(mktemp -d); trap "rm -rf $d" EXIT; dpkg-deb -x "$0" "$d"; "$d/usr/sbin/symroute-sync" --version | grep -qF " $1 "' "$deb" "$deb_version"

# ---------------------------------------------------------------------------
section "throwaway root ($suite minbase + systemd, rpm)"
include=systemd,systemd-sysv,dbus,iproute2,rpm
key=$suite-minbase-$(printf '%s %s' "$include" "$mirror" | sha256sum | cut -c1-12)
mkdir -p "$root"
if [ -n "$cache_dir" ] && [ -f "$cache_dir/$key.tar" ]; then
	tar --numeric-owner -xpf "$cache_dir/$key.tar" -C "$root"
	echo "root from cache $cache_dir/$key.tar"
else
	start=$(date +%s)
	if ! debootstrap --variant=minbase --include="$include" "$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1; then
		tail -20 "$work/debootstrap.log"
		die "debootstrap $suite from $mirror"
	fi
	echo "debootstrap took $(($(date +%s) - start))s"
	if [ -n "$cache_dir" ]; then
		mkdir -p "$cache_dir"
		tar --numeric-owner -cpf "$cache_dir/$key.tar.tmp" -C "$root" . && mv "$cache_dir/$key.tar.tmp" "$cache_dir/$key.tar"
	fi
fi
# rhel_presets on|off: RHEL's default preset policy (99-default.preset):
# units the presets do not name are disabled, so the rpm must enable its
# timer itself. Debian has no such policy (deb-systemd-helper applies
# presets on first install too), so it is on only while the rpm is tested.
rhel_presets() {
	local f=$root/etc/systemd/system-preset/99-default.preset
	if [ "$1" = on ]; then
		mkdir -p "${f%/*}"
		echo 'disable *' >"$f"
	else
		rm -f "$f"
	fi
}
mkdir -p "$root/var/tmp/pkgs"
cp "$deb" "$rpmfile" "$root/var/tmp/pkgs/"
debname=$(basename "$deb")
rpmname=$(basename "$rpmfile")

# A stand-in for the original package: the name, a daemon binary and its
# enabled unit, as symrouted's own deb ships them.
fake=$work/symrouted
mkdir -p "$fake/DEBIAN" "$fake/usr/sbin" "$fake/lib/systemd/system" "$fake/etc/systemd/system/default.target.wants"
printf 'Package: symrouted\nVersion: 1.0-1\nArchitecture: all\nMaintainer: test <test@example.invalid>\nDescription: stand-in for the original symrouted\n' >"$fake/DEBIAN/control"
printf '#!/bin/sh\nexec sleep infinity\n' >"$fake/usr/sbin/symrouted"
# Its prerm stops the daemon, as debhelper's would.
printf '#!/bin/sh\nset -e\nif [ -d /run/systemd/system ]; then deb-systemd-invoke stop symrouted.service || true; fi\n' >"$fake/DEBIAN/prerm"
chmod 0755 "$fake/usr/sbin/symrouted" "$fake/DEBIAN/prerm"
printf '[Unit]\nDescription=symrouted stand-in\n[Service]\nExecStart=/usr/sbin/symrouted\n[Install]\nWantedBy=default.target\n' >"$fake/lib/systemd/system/symrouted.service"
ln -s /lib/systemd/system/symrouted.service "$fake/etc/systemd/system/default.target.wants/symrouted.service"
dpkg-deb --root-owner-group -b "$fake" "$root/var/tmp/pkgs/symrouted_1.0-1_all.deb" >/dev/null

# in_chroot SCRIPT: run SCRIPT (sh -eu) in the root, in a fresh network and
# mount namespace: whatever it does to the network stays in a namespace
# that dies with it. No systemd runs there.
in_chroot() {
	unshare -m -n --fork sh -eu -c '
		mount -t proc proc "$0/proc"
		ip link set lo up
		exec chroot "$0" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive sh -eu -c "$1"' "$root" "$1"
}

section "deb in a chroot, fresh network namespace, no systemd running"
check "root has no /run/systemd/system" test ! -e "$root/run/systemd/system"
out=$(in_chroot '
	ip link add up0 type veth peer name up0p
	ip link set up0p up; ip link set up0 up
	ip addr add 192.0.2.2/24 dev up0
	ip route add default via 192.0.2.1 dev up0
	dpkg -i /var/tmp/pkgs/'"$debname"' >/var/tmp/dpkg-i.log 2>&1 || { cat /var/tmp/dpkg-i.log; exit 1; }
	echo "rules after install:"; ip rule show | grep -c "lookup 10" || :
	symroute-sync --once
	echo "rules after a pass:"; ip rule show | grep -c "proto 234\|proto symroute" || :
	dpkg -r symroute-sync >/var/tmp/dpkg-r.log 2>&1 || { cat /var/tmp/dpkg-r.log; exit 1; }
	echo "rules after remove:"; ip rule show | grep -c "proto 234\|proto symroute" || :
' 2>&1) || { printf '%s\n' "$out"; die "deb install and remove in the chroot"; }
printf '%s\n' "$out"
check "chroot: install ran no pass" sh -c 'printf "%s\n" "$0" | grep -A1 "^rules after install:" | tail -1 | grep -qx 0' "$out"
# up0's address rule and its oif rule (IPv4: ip rule show's family).
check "chroot: the installed binary works there" sh -c 'printf "%s\n" "$0" | grep -A1 "^rules after a pass:" | tail -1 | grep -qx 2' "$out"
check "chroot: remove ran no flush" sh -c 'printf "%s\n" "$0" | grep -A1 "^rules after remove:" | tail -1 | grep -qx 2' "$out"
out=$(in_chroot '
	dpkg -i /var/tmp/pkgs/'"$debname"' >/var/tmp/dpkg-i.log 2>&1 || { cat /var/tmp/dpkg-i.log; exit 1; }
	dpkg-query -W -f="\${Conffiles}\n" symroute-sync | awk "NF { print \$1 }" | sort >/var/tmp/conffiles
') || { printf '%s\n' "$out"; die "deb reinstall in the chroot"; }
check_tree deb "$root"
check "deb: conffiles registered" diff -u \
	<(expected | awk '($1 == "both" || $1 == "deb") && $5 == "conf" { print $2 }' | sort) "$root/var/tmp/conffiles"
# deb-systemd-helper links to the unit by /lib up to Debian 12, /usr/lib
# from 13 (where /lib is a link to it).
check "deb: timer enabled (timers.target.wants link)" sh -c '
	case $(readlink "$0/etc/systemd/system/timers.target.wants/symroute-sync.timer") in
	/usr/lib/systemd/system/symroute-sync.timer | /lib/systemd/system/symroute-sync.timer) ;;
	*) exit 1 ;;
	esac' "$root"
check "deb: listener not enabled" sh -c '! ls "$0"/etc/systemd/system/*.wants/symroute-listen.service 2>/dev/null' "$root"
in_chroot 'dpkg -P symroute-sync >/dev/null'
check "deb: purge removes the config" test ! -e "$root/etc/symroute"
check "deb: purge removes the timer link" test ! -L "$root/etc/systemd/system/timers.target.wants/symroute-sync.timer"

# rpm runs without plugins: Debian 13's rpm (4.20) runs scriptlets through its
# unshare plugin, which cannot change mount propagation in this test's chroot
# and container; the scriptlets themselves are what is tested.
section "rpm in a chroot, fresh network namespace, no systemd running"
rhel_presets on
out=$(in_chroot '
	ip link add up0 type veth peer name up0p
	ip link set up0p up; ip link set up0 up
	ip addr add 192.0.2.2/24 dev up0
	rpm -i --nodeps --noplugins /var/tmp/pkgs/'"$rpmname"'
	echo "rules after install:"; ip rule show | grep -c "lookup 10" || :
') || { printf '%s\n' "$out"; die "rpm install in the chroot"; }
printf '%s\n' "$out"
check "chroot: rpm install ran no pass" sh -c 'printf "%s\n" "$0" | grep -A1 "^rules after install:" | tail -1 | grep -qx 0' "$out"
check_tree rpm "$root"
# systemctl links to the unit by the path it finds first: /lib on Debian's
# merged /usr, /usr/lib on RHEL.
check "rpm: timer enabled (timers.target.wants link)" sh -c '
	case $(readlink "$0/etc/systemd/system/timers.target.wants/symroute-sync.timer") in
	/usr/lib/systemd/system/symroute-sync.timer | /lib/systemd/system/symroute-sync.timer) ;;
	*) exit 1 ;;
	esac' "$root"
check "rpm: listener not enabled" sh -c '! ls "$0"/etc/systemd/system/*.wants/symroute-listen.service 2>/dev/null' "$root"
in_chroot 'rpm -e --noplugins symroute-sync'
check "rpm: erase removes the timer link" test ! -L "$root/etc/systemd/system/timers.target.wants/symroute-sync.timer"
check "rpm: erase removes the binary" test ! -e "$root/usr/sbin/symroute-sync"
rhel_presets off

# ---------------------------------------------------------------------------
# The same root booted: systemd as PID 1 in its own network namespace
# (--private-network: only lo, nothing shared with the host).
start_container() {
	systemd-nspawn -D "$root" --register=no --keep-unit --private-network \
		--boot --console=passive --quiet >"$work/nspawn.log" 2>&1 &
	nspawn_pid=$!
	pid1=
	for _ in $(seq 1 100); do
		pid1=$(pgrep -P "$nspawn_pid" -x systemd || :)
		[ -n "$pid1" ] && break
		sleep 0.2
	done
	[ -n "$pid1" ] || { cat "$work/nspawn.log"; return 1; }
	# Never run anything in the host's namespaces by mistake.
	[ "$(readlink "/proc/$pid1/ns/net")" != "$(readlink /proc/self/ns/net)" ] || return 1
	[ "$(readlink "/proc/$pid1/ns/mnt")" != "$(readlink /proc/self/ns/mnt)" ] || return 1
	for _ in $(seq 1 150); do
		case $(in_container 'systemctl is-system-running' 2>/dev/null || :) in
		running | degraded) return 0 ;;
		esac
		sleep 0.2
	done
	in_container 'systemctl --failed --no-pager' || :
	return 1
}
in_container() {
	nsenter -t "$pid1" -a -- /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		DEBIAN_FRONTEND=noninteractive SYSTEMD_PAGER= sh -eu -c "$1"
}
stop_container() {
	[ -n "$nspawn_pid" ] || return 0
	if kill -0 "$nspawn_pid" 2>/dev/null; then
		# nspawn answers SIGTERM by shutting the container down.
		kill -TERM "$nspawn_pid" 2>/dev/null || :
		for _ in $(seq 1 100); do
			kill -0 "$nspawn_pid" 2>/dev/null || break
			sleep 0.2
		done
		kill -KILL "$nspawn_pid" 2>/dev/null || :
	fi
	wait "$nspawn_pid" 2>/dev/null || :
	nspawn_pid=
}

section "deb under systemd (nspawn, private network)"
start_container || die "boot the root with systemd-nspawn"
ok "root boots with systemd in its own network namespace"
# Links and an address, then the original daemon's package and the rule it
# leaves (no protocol, table 1000 + ifindex).
out=$(in_container '
	ip link add up0 type veth peer name up0p
	ip link set up0p up; ip link set up0 up
	ip addr add 192.0.2.2/24 dev up0
	ip route add default via 192.0.2.1 dev up0
	t=$((1000 + $(cat /sys/class/net/up0/ifindex)))
	ip route add default via 192.0.2.1 dev up0 table "$t"
	ip rule add from 192.0.2.2 lookup "$t" priority 32765
	dpkg -i /var/tmp/pkgs/symrouted_1.0-1_all.deb >/dev/null
	systemctl daemon-reload; systemctl start symrouted.service
	echo "table $t"
') || { printf '%s\n' "$out"; die "set up symrouted in the container"; }
table=$(printf '%s\n' "$out" | sed -n 's/^table //p')
deb_installed_at=$(date +%s)
out=$(in_container 'dpkg -i /var/tmp/pkgs/'"$debname"' 2>&1') || { printf '%s\n' "$out"; bad "deb install under systemd"; }
printf '%s\n' "$out"
check "upgrade: symrouted removed" in_container '! dpkg-query -W -f="\${Status}" symrouted 2>/dev/null | grep -q "ok installed"'
check "upgrade: symrouted.service gone" in_container '! systemctl is-active --quiet symrouted.service'
# pass_ran_ok SINCE: a script checking that the oneshot ran since the Unix
# time SINCE (the journal says it finished) and that its last run succeeded.
pass_ran_ok() {
	printf '%s' 'journalctl -u symroute-sync.service -o cat --since "@'"$1"'" | grep -q "^Finished symroute-sync.service" &&
	[ "$(systemctl show -P Result symroute-sync.service)" = success ] &&
	[ "$(systemctl show -P ExecMainStatus symroute-sync.service)" = 0 ]'
}
check "install: first pass succeeded through systemd" in_container "$(pass_ran_ok "$deb_installed_at")"
check "install: one rule for 192.0.2.2, ours, table $table" in_container '
	ip rule show | grep -F "from 192.0.2.2 " >/tmp/r; cat /tmp/r
	[ "$(wc -l </tmp/r)" = 1 ] && grep -q "lookup '"$table"' proto symroute" /tmp/r'
check "install: table $table mirrors main" in_container 'ip route show table '"$table"' | grep -q "192.0.2.0/24 dev up0"'
check "install: in sync (--check)" in_container 'symroute-sync --check'
check "timer enabled and active" in_container 'systemctl is-enabled --quiet symroute-sync.timer && systemctl is-active --quiet symroute-sync.timer'
check "listener disabled and inactive" in_container '[ "$(systemctl is-enabled symroute-listen.service)" = disabled ] && ! systemctl is-active --quiet symroute-listen.service'
check "/run/symroute from tmpfiles.d, 0755 root:root" in_container '[ "$(stat -c "%a %U:%G" /run/symroute)" = "755 root:root" ]'
check "units pass systemd-analyze verify" in_container '
	out=$(systemd-analyze verify --man=no symroute-sync.service symroute-sync.timer symroute-listen.service 2>&1) || { echo "$out"; exit 1; }
	! echo "$out" | grep -i symroute'
# The hardened oneshot again, from the timer's side, after a change.
check "timer's pass mirrors a new address" in_container '
	ip addr add 192.0.2.3/24 dev up0
	systemctl start symroute-sync.service
	ip rule show | grep -q "from 192.0.2.3 lookup '"$table"' proto symroute"'
# The routers of links whose default main never holds, from every source
# a plain pass reads, read by the hardened units (ProtectSystem=strict,
# ProtectProc=invisible, RestrictAddressFamilies=AF_NETLINK for the
# oneshot, AF_UNIX too for the listener): systemd-networkd's lease file,
# NetworkManager's device state, the dhcpcd hook's lease record and an IPv6
# router's neighbour entry. The hook and a flush run first, outside the
# units: only the units' own passes can have put the defaults back.
routers_setup='
	for i in 1 2 3 4; do
		ip link add gw$i type veth peer name gw${i}p; ip link set gw${i}p up; ip link set gw$i up
		[ $i = 4 ] || ip addr add 10.91.$i.2/24 dev gw$i
	done
	ip -6 addr add 2001:db8:94::2/64 dev gw4 nodad
	ip -6 neigh add fe80::1 lladdr 02:00:00:00:00:01 dev gw4 router nud permanent
	mkdir -p /run/systemd/netif/leases /run/NetworkManager/devices
	printf "ADDRESS=10.91.1.2\nROUTER=10.91.1.1\n" >/run/systemd/netif/leases/$(cat /sys/class/net/gw1/ifindex)
	printf "[device]\nmanaged=true\n[dhcp4]\ndhcp4.ip_address=10.91.2.2\ndhcp4.routers=10.91.2.1\n" \
		>/run/NetworkManager/devices/$(cat /sys/class/net/gw2/ifindex)
	env reason=BOUND interface=gw3 new_ip_address=10.91.3.2 new_routers=10.91.3.1 new_dhcp_lease_time=3600 \
		symroute-sync --once --trigger dhcpcd 2>/dev/null
	grep -qx stack=dhcpcd /run/symroute/leases/gw3
	symroute-sync --flush 2>/dev/null
	if ip route show table all | grep -q "proto symroute"; then exit 1; fi'
routers_check='
	t() { echo $((1000 + $(cat /sys/class/net/$1/ifindex))); }
	for i in 1 2 3; do
		ip route show table $(t gw$i) | grep -q "^default via 10.91.$i.1 dev gw$i proto symroute *$" || {
			ip route show table $(t gw$i); exit 1; }
	done
	ip -6 route show table $(t gw4) | grep -q "^default via fe80::1 dev gw4 proto symroute metric 1 " || {
		ip -6 route show table $(t gw4); exit 1; }
	symroute-sync --check'
check "hardened oneshot: a default via each link's router, from every source" in_container "$routers_setup"'
	systemctl start symroute-sync.service || { journalctl -u symroute-sync.service --no-pager | tail -20; exit 1; }
	[ "$(systemctl show -P Result symroute-sync.service)" = success ]'"$routers_check"
check "hardened listener: a default via each link's router, from every source" in_container '
	symroute-sync --flush 2>/dev/null
	systemctl start symroute-listen.service || { journalctl -u symroute-listen.service --no-pager | tail -20; exit 1; }'"$routers_check"
in_container '
	systemctl stop symroute-listen.service
	for i in 1 2 3 4; do ip link del gw$i; done
	rm -rf /run/systemd/netif/leases /run/NetworkManager /run/symroute/leases
	systemctl start symroute-sync.service' || bad "clean up after the routers' checks"
# The lock directory gone (tmpfiles not run yet, or removed by hand): the
# hardened units still start, and their passes still take the lock.
check "units start with /run/symroute missing" in_container '
	rm -rf /run/symroute
	systemctl start symroute-sync.service || { journalctl -u symroute-sync.service --no-pager | tail -20; exit 1; }
	[ "$(systemctl show -P Result symroute-sync.service)" = success ]
	[ -f /run/symroute/sync.lock ]
	[ "$(stat -c "%a %U:%G" /run/symroute)" = "755 root:root" ]
	rm -rf /run/symroute
	systemctl start symroute-listen.service || { journalctl -u symroute-listen.service --no-pager | tail -20; exit 1; }
	systemctl stop symroute-listen.service
	[ -d /run/symroute ]'
# --follow-ingress through the hardened oneshot: nftables and conntrack over
# netlink, src_valid_mark over rtnetlink (ProtectKernelTunables=yes, and
# nspawn's /proc/sys is read-only anyway); switched off, all of it undone.
check "hardened pass with follow-ingress: table, fwmark rule, src_valid_mark; undone when off" in_container '
	cp /etc/symroute/symroute.conf /tmp/symroute.conf.orig
	echo "follow-ingress = true" >>/etc/symroute/symroute.conf
	systemctl start symroute-sync.service || { journalctl -u symroute-sync.service --no-pager | tail -20; exit 1; }
	[ "$(systemctl show -P Result symroute-sync.service)" = success ]
	ip rule show | grep -q "fwmark 0x1000000/0xff000000 lookup '"$table"' proto symroute"
	[ "$(cat /proc/sys/net/ipv4/conf/up0/src_valid_mark)" = 1 ]
	symroute-sync --check
	cp /tmp/symroute.conf.orig /etc/symroute/symroute.conf
	systemctl start symroute-sync.service
	[ "$(systemctl show -P Result symroute-sync.service)" = success ]
	if ip rule show | grep -q fwmark; then exit 1; fi
	[ "$(cat /proc/sys/net/ipv4/conf/up0/src_valid_mark)" = 0 ]
	symroute-sync --check --follow-ingress=false'
# The listener, hardened: it runs a pass before it reports ready (Type=
# notify), stays up with no NetworkManager or networkd on the bus, and stops
# cleanly.
check "listener starts (Type=notify, pass before ready) and stops" in_container '
	ip addr add 192.0.2.4/24 dev up0
	systemctl start symroute-listen.service || { journalctl -u symroute-listen.service --no-pager | tail -20; exit 1; }
	systemctl is-active --quiet symroute-listen.service
	ip rule show | grep -q "from 192.0.2.4 lookup '"$table"' proto symroute" || {
		journalctl -u symroute-listen.service --no-pager | tail -20; exit 1; }
	sleep 1; systemctl is-active --quiet symroute-listen.service
	systemctl stop symroute-listen.service
	[ "$(systemctl show -P Result symroute-listen.service)" = success ]'
check "reinstall keeps a changed conffile and the timer" in_container '
	echo "# changed" >>/etc/symroute/symroute.conf
	dpkg -i /var/tmp/pkgs/'"$debname"' >/dev/null 2>&1
	tail -1 /etc/symroute/symroute.conf | grep -qx "# changed"
	systemctl is-enabled --quiet symroute-sync.timer
	systemctl is-active --quiet symroute-sync.timer
	[ "$(systemctl show -P Result symroute-sync.service)" = success ]'
out=$(in_container 'dpkg -r symroute-sync 2>&1') || { printf '%s\n' "$out"; bad "deb remove under systemd"; }
check "remove: flush left no rule of ours" in_container '! ip rule show | grep -Eq "proto (symroute|234)"'
check "remove: table $table empty" in_container '[ -z "$(ip route show table '"$table"' 2>/dev/null)" ]'
check "remove: timer stopped" in_container '! systemctl is-active --quiet symroute-sync.timer'
in_container 'dpkg -P symroute-sync >/dev/null 2>&1' || bad "deb purge under systemd"
check "purge: config, lock directory and timer link gone" in_container '
	[ ! -e /etc/symroute ] && [ ! -e /run/symroute ] && [ ! -L /etc/systemd/system/timers.target.wants/symroute-sync.timer ]'

section "rpm under systemd (nspawn, private network)"
rhel_presets on
in_container 'systemctl daemon-reload'
sleep 1 # the journal's --since has one-second steps
rpm_installed_at=$(date +%s)
out=$(in_container 'rpm -i --nodeps --noplugins /var/tmp/pkgs/'"$rpmname"' 2>&1') || { printf '%s\n' "$out"; bad "rpm install under systemd"; }
check "rpm install: first pass succeeded through systemd" in_container "$(pass_ran_ok "$rpm_installed_at")"' &&
	ip rule show | grep -q "from 192.0.2.2 lookup '"$table"' proto symroute"'
check "rpm install: timer enabled and active" in_container 'systemctl is-enabled --quiet symroute-sync.timer && systemctl is-active --quiet symroute-sync.timer'
check "rpm install: listener disabled" in_container '! systemctl is-enabled --quiet symroute-listen.service'
out=$(in_container 'rpm -e --noplugins symroute-sync 2>&1') || { printf '%s\n' "$out"; bad "rpm erase under systemd"; }
check "rpm erase: flush left no rule of ours" in_container '! ip rule show | grep -Eq "proto (symroute|234)"'
check "rpm erase: timer disabled and stopped" in_container '! systemctl is-enabled --quiet symroute-sync.timer 2>/dev/null; ! systemctl is-active --quiet symroute-sync.timer'
stop_container

# ---------------------------------------------------------------------------
section "host network"
host_net_state >"$work/host-net.after"
check "host rules, routes, addresses and links unchanged" diff -u "$work/host-net.before" "$work/host-net.after"

echo
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
