package kernel

// SetWholeDumps makes h read routes with one dump a family, as on a kernel
// that refuses strict checking, so that tests compare the two ways.
func SetWholeDumps(h *Handle, whole bool) { h.wholeDumps = whole }

// WholeDumps reports whether h reads routes with one dump a family.
func WholeDumps(h *Handle) bool { return h.wholeDumps }
