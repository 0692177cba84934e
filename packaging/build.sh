#!/bin/sh
# Builds the static symroute-sync binary for the deb and rpm builds, so both
# packages ship the same thing built the same way.
#
#   packaging/build.sh VERSION OUTPUT
#   packaging/build.sh --vendor DIR     copy the Go modules the build
#                                       needs into DIR (rpm source tarball)
#
# EXTRA_LDFLAGS are added to the link flags (the rpm strips at link time).
#
# Go: the first `go` of at least 1.22 in PATH, then /usr/local/go/bin/go
# (go.dev's tarball), then the newest versioned Debian/Ubuntu toolchain
# (/usr/lib/go-1.NN/bin/go). Debian 12's golang-go is 1.19 (no log/slog)
# and is never enough; GO=/path picks one explicitly. GOTOOLCHAIN=local:
# a build never downloads a toolchain behind the packager's back.
#
# Caches: debhelper (compat 13) gives its tools a scratch HOME that it
# wipes, which would turn every build into a fresh module download. So the
# caches come from the environment when set (debian/rules passes the
# caller's), else from `go env` when HOME is usable, else from a directory
# under TMPDIR. With a warm module cache the build needs no network; with
# a vendor/ directory (the rpm source tarball has one) it never does.
set -eu

if [ $# -ne 2 ]; then
	echo "usage: $0 VERSION OUTPUT | --vendor DIR" >&2
	exit 2
fi
version=$1
out=$2
src=$(cd "$(dirname "$0")/.." && pwd)

# go_ok GO: GO runs and is at least go1.22.
go_ok() {
	v=$("$1" env GOVERSION 2>/dev/null) || return 1
	v=${v#go}
	major=${v%%.*}
	rest=${v#*.}
	minor=${rest%%[!0-9]*}
	[ -n "$major" ] && [ -n "$minor" ] || return 1
	[ "$major" -gt 1 ] || { [ "$major" -eq 1 ] && [ "$minor" -ge 22 ]; }
}

if [ -n "${GO:-}" ]; then
	go_ok "$GO" || { echo "build.sh: GO=$GO is not Go 1.22 or newer" >&2; exit 1; }
else
	# Newest first: go-1.23 before go-1.22 (the field after the first dot).
	# shellcheck disable=SC2012 # fixed, known path names
	versioned=$(ls -1d /usr/lib/go-1.*/bin/go 2>/dev/null | sort -t. -k2,2nr || :)
	# shellcheck disable=SC2086 # $versioned: paths without spaces, one per line
	for candidate in "$(command -v go 2>/dev/null || :)" /usr/local/go/bin/go $versioned; do
		if [ -n "$candidate" ] && [ -x "$candidate" ] && go_ok "$candidate"; then
			GO=$candidate
			break
		fi
	done
	if [ -z "${GO:-}" ]; then
		echo "build.sh: need Go 1.22 or newer in PATH or at /usr/local/go/bin (Debian 12's golang-go 1.19 is too old)" >&2
		exit 1
	fi
fi

export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-}"
fallback="${TMPDIR:-/tmp}/symroute-go-$(id -u)"
home_ok=false
if [ -n "${HOME:-}" ] && [ -d "$HOME" ] && [ -w "$HOME" ]; then
	home_ok=true
fi
if [ -z "${GOPATH:-}" ]; then
	if $home_ok; then GOPATH=$("$GO" env GOPATH); else GOPATH=$fallback/gopath; fi
fi
export GOPATH
if [ -z "${GOMODCACHE:-}" ]; then
	if $home_ok; then GOMODCACHE=$("$GO" env GOMODCACHE); else GOMODCACHE=$GOPATH/pkg/mod; fi
fi
export GOMODCACHE
if [ -z "${GOCACHE:-}" ]; then
	if $home_ok; then GOCACHE=$("$GO" env GOCACHE); else GOCACHE=$fallback/cache; fi
fi
export GOCACHE

cd "$src"
if [ "$version" = --vendor ]; then
	exec "$GO" mod vendor -o "$out"
fi

mod=
if [ -f "$src/vendor/modules.txt" ]; then
	mod=-mod=vendor
fi

echo "build.sh: $("$GO" version), GOMODCACHE=$GOMODCACHE, GOCACHE=$GOCACHE${mod:+, $mod}"
# -trimpath and -buildvcs=false: the same source gives the same binary in a
# git checkout, a tarball or a dpkg/rpm build tree. -B gobuildid gives the
# ELF a GNU build-id (rpm's build-id links and debuggers want one).
# shellcheck disable=SC2086 # $mod is empty or one word
"$GO" build $mod -trimpath -buildvcs=false \
	-ldflags "-X main.version=$version -B gobuildid${EXTRA_LDFLAGS:+ $EXTRA_LDFLAGS}" \
	-o "$out" ./cmd/symroute-sync
