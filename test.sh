#!/usr/bin/env bash
# Runs every test of symroute: formatting and vet, the pure planner and the
# fake kernel, and, as root, the real-kernel and end-to-end tests in
# throwaway network namespaces (they never touch this machine's own
# network). Installs the Debian packages those tests drive when missing.
#
#   sudo ./test.sh            all tests
#   sudo ./test.sh -run Seed  extra arguments go to `go test`
set -euo pipefail
cd "$(dirname "$0")"
export PATH="$PATH:/usr/local/go/bin"

# Programs the tests run, by Debian package: the kernel tools (nft and
# conntrack read back what --follow-ingress does, and replay its --dry-run),
# and the real network stacks the end-to-end tests drive in throwaway
# namespaces; podman and runc build and run the container image (the tests
# give podman a configuration and a store of their own, in temp dirs, and
# its CNI backend, whose plugins are named: apt would otherwise be free to
# pick netavark for container-network-stack).
# packaging/test.sh builds, lints and installs the packages into a
# throwaway root. nftables.service is left as Debian ships it (disabled):
# the tests never load a ruleset outside their namespaces.
pkgs=(iproute2 util-linux procps dbus dnsmasq-base isc-dhcp-client dhcpcd-base
	network-manager systemd networkd-dispatcher ifupdown nftables conntrack
	dpkg-dev debhelper lintian rpm rpmlint debootstrap systemd-container
	groff-base man-db xz-utils git prometheus iptables podman runc
	containernetworking-plugins)
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
	missing=()
	for p in "${pkgs[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		echo "installing test dependencies: ${missing[*]}"
		export DEBIAN_FRONTEND=noninteractive
		# NetworkManager, dnsmasq and networkd must never start on this
		# machine: the tests run them in namespaces of their own. Unless the
		# machine already forbids service starts, forbid them for the install.
		policy=/usr/sbin/policy-rc.d
		if [ ! -e "$policy" ]; then
			printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy"
			trap 'rm -f "$policy"' EXIT
		fi
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
		if [ -n "$(trap -p EXIT)" ]; then rm -f "$policy"; trap - EXIT; fi
	fi
fi

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change: $unformatted" >&2
	exit 1
fi
# Debian 13's NetworkManager, systemd-networkd and dhcpcd for the e2e tests,
# which run them chrooted from this root in their own namespaces: made once
# by debootstrap (about a minute, 350 MB) and kept.
trixie=${SYMROUTE_TRIXIE_ROOT:-/var/cache/symroute-e2e/trixie}
if [ "$(id -u)" = 0 ] && [ ! -x "$trixie/usr/lib/systemd/systemd-networkd" ]; then
	echo "making Debian 13's network stacks in $trixie (debootstrap)"
	rm -rf "$trixie.tmp" && mkdir -p "$trixie.tmp"
	debootstrap --variant=minbase \
		--include=systemd,dbus,iproute2,network-manager,networkd-dispatcher,dhcpcd-base,isc-dhcp-client,procps \
		trixie "$trixie.tmp" "${SYMROUTE_DEBIAN_MIRROR:-http://deb.debian.org/debian}" >"$trixie.log" 2>&1 ||
		{ tail -20 "$trixie.log"; exit 1; }
	rm -rf "$trixie" && mv "$trixie.tmp" "$trixie"
fi
export SYMROUTE_TRIXIE_ROOT=$trixie
go vet ./...
go test -count=1 -timeout 40m "$@" ./...
# The fuzz targets, a few thousand inputs each (their seed corpora ran
# above): hostile hook input, config, lease records and bus messages. A
# count rather than a time: Go 1.26's coordinator can fail a run whose
# -fuzztime ends while a worker is busy ("context deadline exceeded", no
# input found; go.dev/issue/75804, fixed in 1.27), which a loaded CI
# machine hits. Longer: SYMROUTE_FUZZTIME=10m ./test.sh (or 1000000x). Not
# when the tests were narrowed.
if [ $# -eq 0 ] || [ "$*" = -v ]; then
	for target in FuzzDecide:./hooks FuzzParse:./config FuzzRead:./lease FuzzWrite:./lease FuzzSignal:./dispatch; do
		go test -run='^$' -fuzz="^${target%%:*}\$" -fuzztime="${SYMROUTE_FUZZTIME:-5000x}" "${target#*:}"
	done
fi
# The packages in a Debian 12 root, then in a Debian 13 one.
bash packaging/test.sh
SYMROUTE_PKGTEST_SUITE=trixie bash packaging/test.sh
