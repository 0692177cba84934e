package config

// Usage returns the --help text. It is written by hand, in the order a
// reader needs it, rather than generated from the flag set; a test checks
// that every flag appears in it.
func Usage() string {
	return usage
}

const usage = `Usage:
  symroute-sync --once    [OPTIONS]             one pass: mirror main's routes into per-link tables
  symroute-sync --dry-run [OPTIONS]             the pass's plan as ip commands; changes nothing
  symroute-sync --check   [OPTIONS]             exit 3 and print the drift if not in sync
  symroute-sync --status  [--json] [OPTIONS]    per link: table, addresses/rules, routes, clash
  symroute-sync --flush   [--dry-run] [OPTIONS] remove everything symroute owns
  symroute-sync --listen  [OPTIONS]             D-Bus listener: a pass per burst of signals
  symroute-sync --explain DEST [--from ADDR [--iif LINK]] [--oif LINK] [--json] [OPTIONS]
                                                the rule, table and route a flow takes, and
                                                why each is there; --iif: a packet arriving on
                                                LINK (with --follow-ingress, also its reply);
                                                --oif: sent by a socket bound to LINK (which
                                                --oif-rules routes by LINK's table)
  symroute-sync --once --trigger SOURCE [OPTIONS] -- [ARG...]
                                                from a hook: SOURCE is nm, networkd, dhclient,
                                                dhcpcd, ifupdown or timer; ARGs are the hook's
                                                own, kept verbatim after --

Options (also keys of the config file, without the dashes: "priority = 32765"):
  --table-base N              table of a link = N + ifindex (default 1000)
  --priority N                priority of symroute's rules, 1 to 32765 (default 32765)
  --exclude GLOB              leave links matching GLOB alone; repeatable; replaces the default
                              list of container and tunnel links; --exclude= excludes nothing
  --include GLOB              manage only links matching GLOB; repeatable
  --set-route-metric NAME=VALUE
                              set a route metric on every copied route (mtu=1400,
                              advmss=1360, congctl=bbr, ...); repeatable
  --lock-file PATH            lock serialising passes (default /run/symroute/sync.lock)
  --follow-ingress[=BOOL]     replies of connections to this host leave by the link they came
                              in on (VIPs on lo, an uplink's address reached through another,
                              published container ports): conntrack marks, fwmark rules and an
                              nftables table "inet symroute" (default off)
  --ingress-mark-mask MASK    firewall-mark bits --follow-ingress may use (default 0xff000000)
  --metrics-file PATH.prom    after --once (and each listener pass) and --check, write gauges
                              for node_exporter's textfile collector; none if PATH's
                              directory does not exist; --metrics-file= writes none
  --gateway LINK=ADDR         where main has no default through LINK (a glob) in ADDR's
                              family, its table gets one via ADDR; repeatable, the first that
                              matches a link and family wins; before a DHCP lease's router
  --gateway GLOB=first-host   the same via the first host of the link's IPv4 subnet (Azure);
                              after the leases' and advertised routers
  --gateway GLOB=none         the link has no router on purpose (a storage network): no
                              default, and no warning of it, whatever a lease says
  --oif-rules[=BOOL]          sockets bound to a link (ping -I, curl --interface, per-link
                              DNS) are routed by its table: "oif LINK" rules, and the link's
                              IPv6 link-local routes in its table (default on)
  --resync-interval DURATION  the listener also runs a pass DURATION after the last one
                              (60s, 5m; at least 1s; default 0, off), and keeps doing so
                              where no system bus can be reached: for containers, which
                              have no timer; on the command line with --listen only

Other flags:
  --config FILE               config file (default /etc/symroute/symroute.conf; a missing
                              default is fine); flags override it; refused if group or
                              others can write it
  -v, --verbose               log more to stderr
  --version                   print the version and exit
  -h, --help                  print this help and exit

Exit status: 0 done; 1 failed or partial; 2 usage or config error, nothing touched;
3 drift found by --check.
`
