package plan

// Copy is a route of another table equal in every field but its table to
// route Of of State.Main. On a host in sync nearly every route of a table
// symroute owns is one: holding each as 8 bytes rather than a 144-byte
// Route halves what a snapshot holds, and the diff knows such a route is
// its wanted copy without comparing a field.
type Copy struct {
	Of    int32
	Table uint32
}

// route materialises c into r.
func (st *State) copyRoute(c Copy, r *Route) *Route {
	st.Main.Get(int(c.Of), r)
	r.Table = c.Table
	return r
}

// AllRoutes returns every route of st, main's and its Copies materialised:
// a new slice, for tests and for reports that are not on a pass's path.
func (st *State) AllRoutes() []Route {
	out := make([]Route, 0, st.Main.Len()+len(st.Routes)+len(st.Copies))
	out = append(out, st.Main.All()...)
	out = append(out, st.Routes...)
	for _, c := range st.Copies {
		out = append(out, *st.copyRoute(c, &Route{}))
	}
	return out
}

// packMain moves the main routes of st.Routes to the end of st.Main, as a
// snapshot holds them. Routes is made anew: a State made by hand may share
// its array with another.
func (st *State) packMain() {
	n := 0
	for i := range st.Routes {
		if st.Routes[i].Table == TableMain {
			n++
		}
	}
	if n == 0 {
		return
	}
	if st.Main == nil {
		st.Main = &MainRoutes{}
	}
	other := make([]Route, 0, len(st.Routes)-n)
	for i := range st.Routes {
		if r := &st.Routes[i]; r.Table == TableMain {
			st.Main.Add(r)
		} else {
			other = append(other, *r)
		}
	}
	st.Routes = other
}

// Compact packs main and turns every route of st outside main that is
// equal but for its table to a main route into a Copy, as the kernel
// adapter's snapshot does: the fake kernel and tests use it to plan from
// the same form.
func Compact(st *State) {
	var other []Route
	for _, c := range st.Copies { // already compact: expand, and redo
		other = append(other, *st.copyRoute(c, &Route{}))
	}
	st.packMain()
	other = append(other, st.Routes...)
	f := NewCopyFinder(st.Main)
	st.Routes, st.Copies = nil, nil
	for i := range other {
		if of, ok := f.Find(&other[i]); ok {
			st.Copies = append(st.Copies, Copy{Of: of, Table: other[i].Table})
		} else {
			st.Routes = append(st.Routes, other[i])
		}
	}
}

// CopyFinder finds, for a route of one table, the route of main it is a
// copy of. The kernel dumps every table in the same trie order, so a table
// symroute keeps in sync holds its routes in the order of their sources:
// each table's next route is looked for just after the last one found,
// and only when it is not there and main holds its protocol at all, by a
// scan (the first few times), then in an open-addressed table of indices
// built on need (4 bytes a slot, two slots a route: a Go map of 1M
// keys would cost about 60 MB, and hashing every route costs a cache miss
// a route that the walk does not).
type CopyFinder struct {
	main  *MainRoutes
	slots []int32 // index+1 into main; 0 is empty
	mask  uint64
	// next is, per table, where its next route is looked for first.
	next      map[uint32]*int
	lastTable uint32
	last      *int
	// scans counts the walk's misses looked for by a scan of main, up
	// to maxCopyScans, after which the index is built.
	scans int
	// protocols are those main holds, a bit each, made at the first
	// miss: a route of another protocol copies none of them (symroute's
	// own throws and ways out), which takes no scan nor index to know.
	protocols *[4]uint64
}

// protocolHeld reports whether a route of main has protocol p: its rests
// say, which are few.
func (f *CopyFinder) protocolHeld(p uint8) bool {
	if f.protocols == nil {
		f.protocols = new([4]uint64)
		if f.main != nil {
			for i := range f.main.rests {
				q := f.main.rests[i].Protocol
				f.protocols[q/64] |= 1 << (q % 64)
			}
		}
	}
	return f.protocols[p/64]&(1<<(p%64)) != 0
}

// maxCopyScans bounds the scans of main before the index is built: at
// 1M routes a scan takes about 5 ms and the index about 130 ms (hashing
// every route into random slots; BenchmarkCopyFinder1M).
const maxCopyScans = 16

// copyAhead is how far past a table's last copy its next is looked for
// before the index is: main interleaves the routes of every link, which
// on a host with a few uplinks puts a link's next route a few places on.
const copyAhead = 8

// NewCopyFinder makes a finder over main (nil: none), which must not
// change while it is used.
func NewCopyFinder(main *MainRoutes) *CopyFinder {
	return &CopyFinder{main: main, next: map[uint32]*int{}}
}

func (f *CopyFinder) index() {
	n := 16
	for n < 2*f.main.Len() {
		n <<= 1
	}
	f.slots, f.mask = make([]int32, n), uint64(n-1)
	var r Route
	for i := 0; i < f.main.Len(); i++ {
		s := f.hash(f.main.Get(i, &r)) & f.mask
		for f.slots[s] != 0 {
			s = (s + 1) & f.mask
		}
		f.slots[s] = int32(i + 1)
	}
}

// Find returns the index of a route equal to r in every field but its
// table.
func (f *CopyFinder) Find(r *Route) (int32, bool) {
	if f.last == nil || r.Table != f.lastTable {
		p, ok := f.next[r.Table]
		if !ok {
			p = new(int)
			f.next[r.Table] = p
		}
		f.last, f.lastTable = p, r.Table
	}
	n := f.main.Len()
	for i := *f.last; i < n && i < *f.last+copyAhead; i++ {
		if f.main.copiedBy(i, r) {
			*f.last = i + 1
			return int32(i), true
		}
	}
	if !f.protocolHeld(r.Protocol) {
		return 0, false
	}
	if f.slots == nil && f.scans < maxCopyScans {
		// A table in sync misses only for the few routes that copy
		// nothing (throws, ways out): a scan each costs less than the
		// index.
		f.scans++
		for i := 0; i < n; i++ {
			if f.main.copiedBy(i, r) {
				*f.last = i + 1
				return int32(i), true
			}
		}
		return 0, false
	}
	if f.slots == nil {
		f.index()
	}
	for s := f.hash(r) & f.mask; f.slots[s] != 0; s = (s + 1) & f.mask {
		if i := f.slots[s] - 1; f.main.copiedBy(int(i), r) {
			*f.last = int(i) + 1
			return i, true
		}
	}
	return 0, false
}

// hash mixes the kernel's key of r, less the table (splitmix64's
// finaliser: the keys of a routing table are anything but random).
func (f *CopyFinder) hash(r *Route) uint64 {
	k := r.Key()
	k.Table = 0
	h := k.hash()
	x := h.hi ^ (h.lo * 0x9e3779b97f4a7c15) ^ uint64(h.priority)<<32 ^ uint64(h.bits)<<16 ^ uint64(h.tos)<<8 ^ uint64(h.family)
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}
