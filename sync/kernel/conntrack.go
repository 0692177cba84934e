package kernel

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"
)

// ctnetlink (include/uapi/linux/netfilter/nfnetlink_conntrack.h).
const (
	ipctnlMsgCtDelete = 2
	ctaMark           = 8
	ctaMarkMask       = 21
	// A delete's ack is all the conntrack socket ever reads.
	ctRecvBufSize = 8 << 10
)

// forgetConntrack deletes the conntrack entries whose mark, and mask, is
// mark: a retired --follow-ingress value must not route a reply by the
// table of the link it next means. One request: a delete naming no tuple
// flushes what its filter matches (all families: nfgenmsg version 0).
func (h *Handle) forgetConntrack(mark, mask uint32) error {
	c, err := h.conntrack()
	if err != nil {
		return err
	}
	c.seq++
	b := appendMsgHdr(c.wbuf[:0], unix.NFNL_SUBSYS_CTNETLINK<<8|ipctnlMsgCtDelete, unix.NLM_F_REQUEST|unix.NLM_F_ACK, c.seq)
	b = append(b, unix.AF_UNSPEC, unix.NFNETLINK_V0, 0, 0)
	// Marks travel in network byte order.
	b = appendAttr(b, ctaMark, binary.BigEndian.AppendUint32(nil, mark))
	b = appendAttr(b, ctaMarkMask, binary.BigEndian.AppendUint32(nil, mask))
	b = finishMsg(b, 0)
	c.wbuf = b
	if err := c.send(b); err != nil {
		return fmt.Errorf("conntrack: %w", err)
	}
	for {
		buf, err := c.recv(0)
		if err != nil {
			return fmt.Errorf("conntrack: %w", err)
		}
		for len(buf) > 0 {
			hd, body, rest, err := nextMsg(buf)
			if err != nil {
				return fmt.Errorf("conntrack: %w", err)
			}
			buf = rest
			if hd.Seq == c.seq && hd.Type == unix.NLMSG_ERROR {
				if err := ackError(hd, body); err != nil {
					return fmt.Errorf("conntrack: %w", err)
				}
				return nil
			}
		}
	}
}
