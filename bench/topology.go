package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// maxRoutesEm1 is how many /24s fit in 10.1.0.0–10.255.255.0, outside em1's own 10.0.0.0/16.
// Past it em1's half are /32s in 10.1.0.0 upwards (the 1M scale), so the 100k host stays the
// same as ever.
const maxRoutesEm1 = 255 * 256

// maxRoutes is the most bulk routes a big host takes: em2's half are /32s in 172.16.0.0/12.
const maxRoutes = 2 << 20

// topology is one benchmark host: a namespace with two uplinks, em1 and em2, the far ends of
// whose veth pairs sit in a peer namespace so both links have carrier (routes over a link
// without carrier are flagged linkdown, and symroute skips those).
type topology struct {
	ns, peer string
	tables   [2]int // 1000 + ifindex of em1, em2
	// refBatch adds, into tables, the routes symroute mirrors from main: the reference side of
	// a first pass. refLines counts them per table.
	refBatch string
	refLines [2]int
	// generated is the number of bulk routes in main (0 on the small host).
	generated int
}

// setupTopology builds the host. The small host has about 20 main routes (IPv4 and IPv6,
// connected, default and a few /24s or /48s per link); a big one has the defaults plus routes
// bulk routes, half /24s via em1's gateway and half /32s via em2's.
func setupTopology(ns, tmp string, small bool, routes int) (*topology, error) {
	t := &topology{ns: ns, peer: ns + "-peer", generated: routes}
	if err := addNetns(t.ns); err != nil {
		return nil, err
	}
	if err := addNetns(t.peer); err != nil {
		return nil, err
	}
	if err := t.disableDAD(); err != nil {
		return nil, err
	}
	if err := t.setupLinks(); err != nil {
		return nil, err
	}
	mainPath := filepath.Join(tmp, ns+"-main.batch")
	t.refBatch = filepath.Join(tmp, ns+"-ref.batch")
	if err := t.writeBatches(mainPath, small, routes); err != nil {
		return nil, err
	}
	if err := ipIn(t.ns, "-batch", mainPath); err != nil {
		return nil, err
	}
	return t, nil
}

// disableDAD turns off DAD on the host: a link-local address that finishes it adds its local
// route while the no-op runs are monitored, a change that is the kernel's, not ours.
func (t *topology) disableDAD() error {
	for _, k := range []string{"all", "default"} {
		key := "net.ipv6.conf." + k + ".accept_dad=0"
		if out, err := exec.Command("ip", "netns", "exec", t.ns, "sysctl", "-qw", key).CombinedOutput(); err != nil {
			return fmt.Errorf("sysctl %s in %s: %w: %s", key, t.ns, err, out)
		}
	}
	return nil
}

// setupLinks makes em1 and em2, their peer ends up in the peer namespace, with their addresses,
// and notes their tables.
func (t *topology) setupLinks() error {
	type link struct {
		name, peerEnd, addr4, addr6, metric string
	}
	links := []link{
		{"em1", "p1", "10.0.0.2/16", "2001:db8:1::2/64", "105"},
		{"em2", "p2", "192.168.0.2/24", "2001:db8:2::2/64", "106"},
	}
	steps := [][]string{{"link", "set", "lo", "up"}}
	for _, l := range links {
		if err := ipIn(t.ns, "link", "add", l.name, "type", "veth", "peer", "name", l.peerEnd, "netns", t.peer); err != nil {
			return err
		}
		if err := ipIn(t.peer, "link", "set", l.peerEnd, "up"); err != nil {
			return err
		}
		// Address metrics give the connected routes the link's metric, as NetworkManager does.
		// nodad: a tentative IPv6 address has no rule yet, so it must be usable at once.
		steps = append(steps,
			[]string{"link", "set", l.name, "up"},
			[]string{"addr", "add", l.addr4, "dev", l.name, "metric", l.metric},
			[]string{"addr", "add", l.addr6, "dev", l.name, "nodad", "metric", l.metric},
		)
	}
	for _, s := range steps {
		if err := ipIn(t.ns, s...); err != nil {
			return err
		}
	}
	for i, l := range links {
		idx, err := ifindex(t.ns, l.name)
		if err != nil {
			return err
		}
		t.tables[i] = 1000 + idx
	}
	return nil
}

// writeBatches writes the main routes into mainPath and their mirror into t.refBatch.
func (t *topology) writeBatches(mainPath string, small bool, routes int) error {
	mainB, err := newBatch(mainPath)
	if err != nil {
		return err
	}
	refB, err := newBatch(t.refBatch)
	if err != nil {
		return err
	}
	w := &routeBatches{t: t, main: mainB, ref: refB,
		suffix: [2]string{fmt.Sprintf(" table %d\n", t.tables[0]), fmt.Sprintf(" table %d\n", t.tables[1])}}
	w.kernelCopies()
	w.defaults()
	if small {
		w.smallExtras()
	}
	w.bulk(routes)
	if err := mainB.close(); err != nil {
		return err
	}
	return refB.close()
}

// routeBatches are the two batch files of a host: main's routes, and the reference's copies
// of them in the links' tables.
type routeBatches struct {
	t         *topology
	main, ref *batch
	suffix    [2]string // " table N\n" of em1's table, em2's
}

// route adds one main route and its copy in the link's table, as symroute would make it.
// It takes bytes so that 100k routes make no garbage: the parent's peak RSS is the floor of
// every child's ru_maxrss (see recordFloor).
func (w *routeBatches) route(link int, spec []byte) {
	w.main.write("route add ", spec, "\n")
	w.ref.write("route add ", spec, w.suffix[link])
	w.t.refLines[link]++
}

func (w *routeBatches) routef(link int, format string, args ...any) {
	w.route(link, fmt.Appendf(nil, format, args...))
}

// kernelCopies adds the reference's copies of the connected routes, which the kernel makes in
// main, and the throws of the other link's.
func (w *routeBatches) kernelCopies() {
	for _, c := range []struct {
		link int
		spec string
	}{
		{0, "10.0.0.0/16 dev em1 proto kernel scope link src 10.0.0.2 metric 105"},
		{0, "2001:db8:1::/64 dev em1 proto kernel metric 105"},
		{1, "192.168.0.0/24 dev em2 proto kernel scope link src 192.168.0.2 metric 106"},
		{1, "2001:db8:2::/64 dev em2 proto kernel metric 106"},
		// Each table throws the other link's subnets.
		{0, "throw 192.168.0.0/24 proto 234 metric 106"},
		{0, "throw 2001:db8:2::/64 proto 234 metric 106"},
		{1, "throw 10.0.0.0/16 proto 234 metric 105"},
		{1, "throw 2001:db8:1::/64 proto 234 metric 105"},
		// And holds its own link-local route, for the sockets its oif
		// rule sends there.
		{0, "fe80::/64 dev em1 proto kernel metric 256"},
		{1, "fe80::/64 dev em2 proto kernel metric 256"},
	} {
		w.ref.write("route add ", []byte(c.spec), w.suffix[c.link])
		w.t.refLines[c.link]++
	}
}

// defaults adds each link's defaults, IPv4 and IPv6.
func (w *routeBatches) defaults() {
	// ::/0, not "default": in a batch line there is no -6, and iproute2 reads a bare default as IPv4.
	w.routef(0, "default via 10.0.0.1 dev em1 metric 105")
	w.routef(0, "::/0 via 2001:db8:1::1 dev em1 metric 105")
	w.routef(1, "default via 192.168.0.1 dev em2 metric 106")
	w.routef(1, "::/0 via 2001:db8:2::1 dev em2 metric 106")
}

// smallExtras adds the small host's few /24s and a /48 per link.
func (w *routeBatches) smallExtras() {
	for i := 1; i <= 5; i++ {
		w.routef(0, "198.18.%d.0/24 via 10.0.0.1 dev em1 metric 105", i)
		w.routef(1, "172.20.%d.0/24 via 192.168.0.1 dev em2 metric 106", i)
	}
	w.routef(0, "2001:db8:100::/48 via 2001:db8:1::1 dev em1 metric 105")
	w.routef(1, "2001:db8:200::/48 via 2001:db8:2::1 dev em2 metric 106")
}

// bulk adds routes bulk routes, half via each link.
func (w *routeBatches) bulk(routes int) {
	var spec []byte
	n1 := routes / 2
	for i := 0; i < n1; i++ {
		// 10.1.0.0/24 upwards: outside em1's own 10.0.0.0/16.
		if n1 <= maxRoutesEm1 {
			spec = appendIPv4(spec[:0], 10<<24|uint32(1+i/256)<<16|uint32(i%256)<<8)
			spec = append(spec, "/24 via 10.0.0.1 dev em1"...)
		} else {
			spec = appendIPv4(spec[:0], 10<<24|1<<16+uint32(i))
			spec = append(spec, "/32 via 10.0.0.1 dev em1"...)
		}
		w.route(0, spec)
	}
	for i := 0; i < routes-n1; i++ {
		// 172.16.0.0/12 upwards: far from em2's extras in 172.20.0.0/16.
		spec = appendIPv4(spec[:0], 172<<24|16<<16+uint32(i))
		spec = append(spec, "/32 via 192.168.0.1 dev em2"...)
		w.route(1, spec)
	}
}

// batch writes an `ip -batch` file, streamed so that 100k lines never sit in memory.
type batch struct {
	f   *os.File
	w   *bufio.Writer
	err error
}

func newBatch(path string) (*batch, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create batch file: %w", err)
	}
	return &batch{f: f, w: bufio.NewWriter(f)}, nil
}

func (b *batch) write(prefix string, spec []byte, suffix string) {
	if b.err != nil {
		return
	}
	b.w.WriteString(prefix)
	b.w.Write(spec)
	_, b.err = b.w.WriteString(suffix)
}

func appendIPv4(b []byte, a uint32) []byte {
	for i := 3; i >= 0; i-- {
		b = strconv.AppendUint(b, uint64(a>>(8*i)&255), 10)
		if i > 0 {
			b = append(b, '.')
		}
	}
	return b
}

func (b *batch) close() error {
	if b.err == nil {
		b.err = b.w.Flush()
	}
	if err := b.f.Close(); b.err == nil {
		b.err = err
	}
	if b.err != nil {
		return fmt.Errorf("write %s: %w", b.f.Name(), b.err)
	}
	return nil
}

// tableRoutes counts the routes, IPv4 and IPv6, in one table, read from inside the namespace.
func (r *runner) tableRoutes(table int) (int, error) {
	n := 0
	for _, fam := range []string{"-4", "-6"} {
		c, err := r.countLines("ip", fam, "route", "show", "table", strconv.Itoa(table))
		if noTable(err) {
			continue
		}
		if err != nil {
			return 0, err
		}
		n += c
	}
	return n, nil
}

// flushTables empties the per-link tables with ip: the reset between reference runs.
func (r *runner) flushTables(t *topology) error {
	for _, table := range t.tables {
		for _, fam := range []string{"-4", "-6"} {
			if _, err := r.output("ip", fam, "route", "flush", "table", strconv.Itoa(table)); err != nil && !noTable(err) {
				return err
			}
		}
	}
	return nil
}

// rulesTo counts the policy rules, IPv4 and IPv6, that look up table.
func (r *runner) rulesTo(table int) (int, error) {
	n := 0
	for _, fam := range []string{"-4", "-6"} {
		out, err := r.output("ip", fam, "rule", "show", "table", strconv.Itoa(table))
		if err != nil {
			return 0, err
		}
		for _, l := range splitLines(out) {
			if l != "" {
				n++
			}
		}
	}
	return n, nil
}

// noTable tells the kernel's answer for a table that has never held a route (IPv4 creates a
// FIB table on first use and keeps it): empty, for counting and flushing.
func noTable(err error) bool {
	return err != nil && strings.Contains(err.Error(), "table does not exist")
}
