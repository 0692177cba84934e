#!/bin/sh
# symroute: RHEL's dhclient-script sources this and calls symroute_config (bind) or symroute_restore (release) before it is
# done (restore even before it removes the address), so both only arrange for symroute-sync to run when dhclient-script exits.
symroute_config() { trap '(export new_routers new_expiry new_rfc3442_classless_static_routes; exec /usr/sbin/symroute-sync --once --trigger dhclient -- "$reason" "$interface") || :' EXIT; }
symroute_restore() { symroute_config; }
