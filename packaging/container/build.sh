#!/bin/sh
# Builds the container image of symroute-sync: the static binary alone
# (FROM scratch), tagged symroute-sync:VERSION, or TAG, in the local store
# of podman, else of docker.
#
#   packaging/container/build.sh [TAG]
#
# VERSION is the packages' version, taken as buildrpm.sh takes it (the rpm
# spec's Version, which packaging/test.sh checks against
# debian/changelog's). The binary is built here by packaging/build.sh, as
# the deb and the rpm build it (Go 1.22 or newer, found as it says), for
# GOARCH if set, else the machine's: the image's platform is the engine's
# default, so cross-building means setting both (GOARCH=arm64 and
# CONTAINER_BUILD_FLAGS="--platform linux/arm64").
#
# podman first: it needs no daemon, and a docker CLI without one is
# common. docker only where podman is absent (CONTAINER_ENGINE=docker
# forces it). podman reads its configuration from the environment
# (CONTAINERS_CONF, CONTAINERS_STORAGE_CONF), which is how the tests keep
# its store off the host. CONTAINER_BUILD_FLAGS are added to the build
# command (word-split: no spaces inside a flag).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
spec=$src/packaging/rpm/symroute-sync.spec

if [ $# -gt 1 ]; then
	echo "usage: $0 [TAG]" >&2
	exit 2
fi
version=$(sed -n 's/^Version:[[:space:]]*//p' "$spec")
if [ -z "$version" ]; then
	echo "build.sh: no Version in $spec" >&2
	exit 1
fi
tag=${1:-symroute-sync:$version}

engine=${CONTAINER_ENGINE:-}
if [ -z "$engine" ]; then
	if command -v podman >/dev/null 2>&1; then
		engine=podman
	elif command -v docker >/dev/null 2>&1; then
		engine=docker
	else
		echo "build.sh: neither podman nor docker found (Debian: apt-get install podman)" >&2
		exit 1
	fi
fi

# podman keeps an image per instruction as a cache by default: a build of
# one COPY needs none, and they would show as <none> in `podman images`.
engine_flags=
if [ "$(basename "$engine")" = podman ]; then
	engine_flags=--layers=false
fi

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
"$src/packaging/build.sh" "$version" "$ctx/symroute-sync"
cp "$here/Containerfile" "$ctx/Containerfile"
echo "build.sh: $engine build of $tag (version $version)"
# shellcheck disable=SC2086 # the flags: none or words, split on purpose
"$engine" build $engine_flags ${CONTAINER_BUILD_FLAGS:-} --file "$ctx/Containerfile" \
	--build-arg "VERSION=$version" --tag "$tag" "$ctx"
