package kernel

import (
	"fmt"

	"github.com/google/nftables"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/symroute/symroute/internal/nsthread"
	"github.com/symroute/symroute/sync/plan"
)

var _ plan.Kernel = (*Handle)(nil)

// Options say where a Handle works.
type Options struct {
	// NetNS is the network namespace to read and write. The handle's
	// sockets are opened inside it and keep working there, so no caller
	// thread ever moves. 0 or netns.None() means the caller's namespace
	// (fd 0 is stdin, never a namespace).
	NetNS netns.NsHandle
}

// Handle is a kernel for one network namespace. It is not safe for
// concurrent use: a pass is serial anyway.
type Handle struct {
	c *conn
	// nft reads and writes symroute's nftables table; nftErr is why it
	// could not be opened (a kernel without nftables).
	nft    *nftables.Conn
	nftErr error
	// ct deletes conntrack entries, opened when first needed (a pass
	// rarely forgets any); ns is a copy of the namespace it is opened in,
	// none for the caller's.
	ct *conn
	ns netns.NsHandle
	// names of links as of the last Snapshot, for error messages.
	names map[int]string
	// the last metric text Apply encoded, with or without its locks, and
	// its RTA_METRICS.
	lastMetrics      string
	lastMetricsLocks bool
	lastMetricsAttr  []byte
	// watching is the watch open on the handle, drained while ops are
	// applied.
	watching *watch
	// wholeDumps: read routes with one dump a family, not one a table
	// (the kernel refused strict checking, or a test asks).
	wholeDumps bool
	// scratch holds a route Apply encodes that an Op names by its source.
	scratch plan.Route
}

// Open returns a Handle on opts.NetNS.
func Open(opts Options) (*Handle, error) {
	h := &Handle{}
	err := nsthread.Do(opts.NetNS, func() error {
		c, err := newConn()
		if err != nil {
			return err
		}
		h.c = c
		// nftables and conntrack serve --follow-ingress only: a kernel
		// without them fails that option, not the handle.
		if h.nft, err = nftables.New(nftables.AsLasting()); err != nil {
			h.nftErr = fmt.Errorf("nftables netlink socket: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if opts.NetNS > 0 {
		fd, err := unix.FcntlInt(uintptr(opts.NetNS), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			h.Close()
			return nil, fmt.Errorf("keep network namespace: %w", err)
		}
		h.ns = netns.NsHandle(fd)
	}
	return h, nil
}

// conntrack returns the conntrack socket, opening it in the handle's
// namespace the first time.
func (h *Handle) conntrack() (*conn, error) {
	if h.ct != nil {
		return h.ct, nil
	}
	err := nsthread.Do(h.ns, func() error {
		c, err := newConnOf(unix.NETLINK_NETFILTER, ctRecvBufSize)
		h.ct = c
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("conntrack netlink socket: %w", err)
	}
	return h.ct, nil
}

// Close releases the handle's sockets.
func (h *Handle) Close() error {
	if h.nft != nil {
		h.nft.CloseLasting()
	}
	if h.ct != nil {
		h.ct.close()
	}
	if h.ns > 0 {
		h.ns.Close()
	}
	return h.c.close()
}
