#!/usr/bin/env bash
# Builds the rpm: ~/rpmbuild/RPMS/<arch>/symroute-sync-VERSION-RELEASE.<arch>.rpm
# (and the source rpm), from packaging/rpm/symroute-sync.spec.
#
#   ./buildrpm.sh [rpmbuild options]
#   RPMBUILD_TOPDIR=/some/dir ./buildrpm.sh     build there instead of ~/rpmbuild
#
# Works on RHEL/Fedora and on Debian with Debian's rpm package. Needs Go
# 1.22 or newer (packaging/build.sh finds it) and, unless the module cache
# is warm, the Go module proxy: the source tarball carries the vendored
# modules, so rpmbuild itself needs no network.
set -euo pipefail
cd "$(dirname "$0")"

spec=packaging/rpm/symroute-sync.spec
version=$(sed -n 's/^Version:[[:space:]]*//p' "$spec")
name=symroute-sync-$version
topdir=${RPMBUILD_TOPDIR:-$(rpm --eval '%{_topdir}')}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The tarball holds what a commit would: tracked files and new ones git does
# not ignore (no stray binaries); outside git, the tree without VCS files.
mkdir -p "$work/$name"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	git ls-files -z --cached --others --exclude-standard |
		while IFS= read -r -d '' f; do
			# Listed but deleted in the work tree: a commit would drop it.
			if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi
		done |
		tar --null -T - -cf - | tar -xf - -C "$work/$name"
else
	tar --exclude-vcs -cf - . | tar -xf - -C "$work/$name"
fi
packaging/build.sh --vendor "$work/$name/vendor"

mkdir -p "$topdir/SOURCES" "$topdir/SPECS"
tar -C "$work" --owner=0 --group=0 -czf "$topdir/SOURCES/$name.tar.gz" "$name"
cp "$spec" "$topdir/SPECS/"

# Debian's rpm database knows none of Debian's packages, so BuildRequires
# (golang, systemd) cannot be checked there: build.sh checks Go itself.
nodeps=()
if [ -r /etc/debian_version ]; then
	nodeps=(--nodeps)
fi
# The Packager tag comes from the builder, not the spec (Fedora's rule);
# default to the project's when the builder sets none.
packager=()
if [ -z "$(rpm --eval '%{?packager}')" ]; then
	packager=(--define "packager symroute maintainers <symroute@example.invalid>")
fi
rpmbuild -ba --define "_topdir $topdir" "${nodeps[@]}" "${packager[@]}" "$@" "$topdir/SPECS/symroute-sync.spec"
