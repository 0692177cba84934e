package kernel

import (
	"errors"

	"golang.org/x/sys/unix"

	"github.com/symroute/symroute/internal/nsthread"
	"github.com/symroute/symroute/sync/plan"
)

var _ plan.Watcher = (*Handle)(nil)

// The rtnetlink multicast groups whose changes a pass's read-back would
// notice.
var watchGroups = []int{unix.RTNLGRP_LINK, unix.RTNLGRP_IPV4_IFADDR, unix.RTNLGRP_IPV6_IFADDR,
	unix.RTNLGRP_IPV4_ROUTE, unix.RTNLGRP_IPV6_ROUTE, unix.RTNLGRP_IPV4_RULE, unix.RTNLGRP_IPV6_RULE}

// watchBufSize holds any one notification, which comes alone in its
// datagram: the dump buffer's megabyte would be allocated every round for
// nothing. A larger one is reported truncated, and so taken as foreign.
const watchBufSize = 64 << 10

// watch is a socket subscribed to the kernel's notifications of links,
// addresses, routes and rules.
type watch struct{ c *conn }

// Watch implements plan.Watcher.
func (h *Handle) Watch() (plan.Watch, error) {
	var w watch
	err := nsthread.Do(h.ns, func() error {
		c, err := newConnOf(unix.NETLINK_ROUTE, watchBufSize)
		if err != nil {
			return err
		}
		for _, g := range watchGroups {
			if err := unix.SetsockoptInt(c.fd, unix.SOL_NETLINK, unix.NETLINK_ADD_MEMBERSHIP, g); err != nil {
				c.close()
				return err
			}
		}
		w.c = c
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &w, nil
}

func (w *watch) Close() error { return w.c.close() }

// Foreign drains what was queued: a route event whose key a route op names,
// or a rule event of symroute's protocol whose selectors a rule op names,
// is the pass's own doing; anything else, or an overflow (ENOBUFS:
// notifications were lost), is foreign. The keys are indexed only once a
// notification is there to check: a pass of 1M writes overflows the socket,
// and the kernel reports that first.
func (w *watch) Foreign(ops []plan.Op) bool {
	var routes map[plan.RouteKey]bool
	var rules map[plan.RuleKey]bool
	var tables map[uint32]bool
	index := func() {
		routes, rules, tables = map[plan.RouteKey]bool{}, map[plan.RuleKey]bool{}, map[uint32]bool{}
		for _, op := range ops {
			switch {
			case op.Kind.IsRoute():
				k := op.Route.Key()
				k.Table = op.Table()
				routes[k] = true
				tables[k.Table] = true
			case op.Kind.IsRule():
				rules[op.Rule.Key()] = true
			}
		}
	}
	p := routeParser{keep: func(t uint32) bool { return tables[t] }}
	var r plan.Route
	for {
		buf, err := w.c.recv(unix.MSG_DONTWAIT)
		if errors.Is(err, unix.EAGAIN) {
			return false
		}
		if err != nil {
			return true
		}
		if routes == nil {
			index()
		}
		for len(buf) > 0 {
			h, body, rest, err := nextMsg(buf)
			if err != nil {
				return true
			}
			buf = rest
			switch h.Type {
			case unix.RTM_NEWROUTE, unix.RTM_DELROUTE:
				if !p.parse(body, &r) || !routes[r.Key()] {
					return true
				}
			case unix.RTM_NEWRULE, unix.RTM_DELRULE:
				rl, ok := parseRule(body)
				if !ok || rl.Protocol != plan.Protocol || !rules[rl.Key()] {
					return true
				}
			default:
				return true
			}
		}
	}
}
