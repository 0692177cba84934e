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

// watchBufSize is read in slots of a 128th (recvMany), 4 KiB each: a
// notification is a few hundred bytes; a larger one is reported truncated,
// and so taken as foreign.
const watchBufSize = ackSlots * 4 << 10

// watch is a socket subscribed to the kernel's notifications of links,
// addresses, routes and rules. While the handle applies ops, it drains the
// socket after every batch and matches what it reads to the ops as it
// goes: a pass of 1M writes would otherwise overflow it (a notification
// is about 1 KiB of socket buffer), and an overflow is taken as foreign,
// which costs the read-back round the watch is there to skip.
type watch struct {
	c *conn
	h *Handle
	// ops are those being applied, next the first a notification may
	// still be of: the kernel carries out a batch in order and notifies
	// each change as it makes it, so the notifications of a pass's own
	// writes come in the order of its ops, less those that changed
	// nothing (already there, already gone) or failed.
	ops     []plan.Op
	next    int
	foreign bool
	p       routeParser
	r       plan.Route
	scratch plan.Route
}

// Watch implements plan.Watcher. The handle drains the watch while it
// applies ops; one watch at a time.
func (h *Handle) Watch() (plan.Watch, error) {
	w := &watch{h: h}
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
	w.p.keep = func(uint32) bool { return true }
	h.watching = w
	return w, nil
}

func (w *watch) Close() error {
	if w.h.watching == w {
		w.h.watching = nil
	}
	return w.c.close()
}

// applying tells the watch which ops are being applied. A second Apply
// under one watch is not matched: whatever it notifies is foreign.
func (w *watch) applying(ops []plan.Op) {
	if w.ops != nil {
		w.foreign = true
		return
	}
	w.ops = ops
}

// Foreign drains what is still queued and reports whether anything but
// ops was seen: a route event of an op's route, or a rule event of
// symroute's protocol with an op's selectors, in the order of the ops, is
// the pass's own doing; anything else, or an overflow (ENOBUFS:
// notifications were lost), is foreign.
func (w *watch) Foreign(ops []plan.Op) bool {
	if w.ops == nil {
		w.ops = ops
	}
	w.drain()
	return w.foreign
}

// drain reads every notification queued, matching each to the ops. Each
// comes in its own datagram: recvmmsg takes up to a slot of the buffer's
// each per call.
func (w *watch) drain() {
	for !w.foreign {
		bufs, err := w.c.recvMany(unix.MSG_DONTWAIT)
		if errors.Is(err, unix.EAGAIN) {
			return
		}
		if err != nil {
			w.foreign = true
			return
		}
		for _, buf := range bufs {
			for len(buf) > 0 && !w.foreign {
				h, body, rest, err := nextMsg(buf)
				if err != nil {
					w.foreign = true
					return
				}
				buf = rest
				w.foreign = !w.own(h.Type, body)
			}
		}
	}
}

// own matches one notification to the ops from w.next on, and moves
// w.next to the op it is of (not past it: a change may be notified more
// than once).
func (w *watch) own(typ uint16, body []byte) bool {
	switch typ {
	case unix.RTM_NEWROUTE, unix.RTM_DELROUTE:
		if !w.p.parse(body, &w.r) {
			return false
		}
		for ; w.next < len(w.ops); w.next++ {
			// The route itself, not only its key: another program's
			// route of the key of an op that then finds it there
			// (EEXIST, counted done) is not the op's.
			if op := &w.ops[w.next]; op.Kind.IsRoute() && op.Table() == w.r.Table && op.RouteIn(&w.scratch).Equal(&w.r) {
				return true
			}
		}
	case unix.RTM_NEWRULE, unix.RTM_DELRULE:
		rl, ok := parseRule(body)
		if !ok || rl.Protocol != plan.Protocol {
			return false
		}
		k := rl.Key()
		for ; w.next < len(w.ops); w.next++ {
			if op := &w.ops[w.next]; op.Kind.IsRule() && op.Rule.Key() == k {
				return true
			}
		}
	}
	return false
}
