// Package hooks turns what a hook hands symroute-sync (its --trigger source,
// the arguments after "--" and the environment) into one typed Trigger, and
// decides whether it warrants a pass.
//
// A trigger only decides whether to run a pass: the pass always reads the
// kernel, never the hook's input. The one exception is the router of a
// DHCP lease (see package lease) that main may never hold: stock Debian
// dhclient-script fails to add a second interface's default route ("File
// exists"), and dhcpcd's nogateway and NetworkManager's never-default keep
// it out on purpose, so the hook's lease variables are where the table
// gets that router from (for NetworkManager also its device state, which
// the pass reads itself).
//
// What each source hands over, and what warrants a pass:
//
//	nm        args IFACE ACTION (NetworkManager dispatcher's own two arguments);
//	          env DHCP4_IP_ADDRESS, DHCP4_ROUTERS,
//	          DHCP4_RFC3442_CLASSLESS_STATIC_ROUTES, DHCP4_EXPIRY for the lease
//	          record. Pass on up, down, dhcp4-change, dhcp6-change, reapply,
//	          vpn-up, vpn-down; hostname, dns-change, connectivity-change and the
//	          pre-* actions change no address or route.
//	networkd  env IFACE, STATE (networkd-dispatcher exports them), or args
//	          IFACE STATE. Pass on routable, degraded, configured, carrier,
//	          no-carrier, off: the states where addresses and routes appear or
//	          go. dormant, configuring, initialized, ... do not.
//	dhclient  args REASON IFACE (or env reason, interface); env new_routers,
//	          new_expiry, new_rfc3442_classless_static_routes for the lease
//	          record. Pass on BOUND RENEW REBIND REBOOT EXPIRE FAIL RELEASE STOP
//	          TIMEOUT and BOUND6 RENEW6 REBIND6 DEPREF6 EXPIRE6 RELEASE6 STOP6.
//	          TIMEOUT is there because dhclient-script then binds an old lease
//	          from the lease file (or flushes the address): addresses change.
//	          PREINIT, PREINIT6, MEDIUM, ARPCHECK, ARPSEND do not.
//	dhcpcd    args REASON IFACE (or env reason, interface); env new_ip_address,
//	          new_routers, new_classless_static_routes, new_dhcp_lease_time
//	          for the lease record. Pass on what adds
//	          or removes addresses or routes: BOUND RENEW REBIND REBOOT EXPIRE
//	          FAIL RELEASE STOP STOPPED TIMEOUT INFORM STATIC IPV4LL 3RDPARTY
//	          ROUTERADVERT NOCARRIER DEPARTED, their 6 forms (BOUND6 RENEW6
//	          REBIND6 REBOOT6 EXPIRE6 RELEASE6 STOP6 INFORM6 DELEGATED6), and
//	          CARRIER: routes the kernel kept but flagged linkdown become
//	          usable again, so a pass now mirrors them. PREINIT, TEST, DUMP and
//	          NOCARRIER_ROAMING (addresses kept) do not.
//	ifupdown  env IFACE, MODE, PHASE, as ifupdown exports them to run-parts.
//	          Pass on post-up (if-up.d) and post-down (if-post-down.d); pre-up
//	          and pre-down do not. Without PHASE (ifupdown before 0.7) MODE
//	          start or stop passes. IFACE may be an alias label (eth0:1) or
//	          "--all" (the closing call of ifup -a / ifdown -a, which passes:
//	          cheap, and it covers an interface whose own call lost the lock).
//	timer     always passes; arguments are ignored.
//
// Malformed input (a bad interface name, an action or reason that is not a
// plain word, a wrong argument count, a variable given twice, a lease field
// that does not parse) gives a Trigger with Malformed set and no pass:
// symroute-sync logs it and exits 0, since a hook must never fail or slow
// the stack that called it. A well-formed but unknown action is not
// malformed, just not worth a pass.
//
// symroute-sync --trigger exits 0 when no pass is warranted, when the input
// is refused, and when another pass still holds the lock after LockWait;
// otherwise with the pass's own status (1 when it failed or was partial),
// so that the timer's unit and NetworkManager's journal still show a pass
// that fails. The installed scripts never let that status reach their
// caller.
//
// The lease record (IPv4 only). dhclient: on BOUND, RENEW, REBIND or
// REBOOT with a router (the first of new_routers, or the default route of
// RFC 3442 classless static routes when the server sent them, since RFC
// 3442 makes the client ignore the Router option then) and an expiry in the
// future, the record is written (a classless default on the link itself,
// router 0.0.0.0, is no router); an infinite lease is recorded as lasting
// MaxLeaseLife. A bind without a router, or without a usable expiry, drops
// the record: it must describe the current lease or nothing. EXPIRE, FAIL,
// RELEASE and STOP drop it. TIMEOUT and the DHCPv6 reasons leave it alone.
//
// dhcpcd: the same reasons bind, from new_routers and
// new_classless_static_routes (DEST/LEN ROUTER pairs) and the lease time
// new_dhcp_lease_time (seconds from now; 4294967295 is infinite), and the
// record is tied to new_ip_address; EXPIRE, FAIL, RELEASE, STOP, STOPPED,
// NOCARRIER and DEPARTED drop it (dhcpcd removes the address then).
//
// NetworkManager: up, dhcp4-change and reapply with DHCP4_IP_ADDRESS bind,
// from DHCP4_ROUTERS, DHCP4_RFC3442_CLASSLESS_STATIC_ROUTES (either
// rendering) and DHCP4_EXPIRY, tied to the address; up and reapply without
// one drop the record (the connection has no DHCPv4 lease), as does down;
// a dhcp4-change without one leaves it (NetworkManager runs one while a
// device activates, before it hands the options over). NetworkManager
// 1.42 runs no script on a renewal, so the record stays live while its
// address is on the link, not until DHCP4_EXPIRY. pre-down runs only
// scripts in pre-down.d, where the package installs none.
package hooks
