// Package regfile opens the files symroute reads that other programs or
// users may have placed (lease records, the metrics file it rewrites,
// networkd's and NetworkManager's configuration): only regular files,
// without blocking on a FIFO planted there, and, where asked, without
// following a link.
package regfile
