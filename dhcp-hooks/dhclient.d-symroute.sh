#!/bin/sh
# symroute: RHEL's dhclient-script sources this and calls symroute_config (bind) or symroute_restore (release) before it is
# done (restore even before it removes the address), so both only arrange for symroute-sync to run when dhclient-script exits:
# once, from an EXIT trap that runs ours, then the caller's own (kept, with the script's exit status).
symroute_config() {
	[ -n "${symroute_armed-}" ] && return 0; symroute_armed=1
	symroute_trap() { symroute_prev=$2; }; symroute_prev=$(trap -p EXIT); eval "symroute_trap ${symroute_prev#trap }"
	trap 'symroute_status=$?; (export new_routers new_expiry new_rfc3442_classless_static_routes; exec /usr/sbin/symroute-sync --once --trigger dhclient -- "$reason" "$interface") || :; (exit $symroute_status); eval "$symroute_prev"' EXIT
}
symroute_restore() { symroute_config; }
