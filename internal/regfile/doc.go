// Package regfile opens the files symroute reads that other programs or
// users may have placed (lease records, the metrics file it rewrites,
// networkd's and NetworkManager's configuration): only regular files,
// without blocking on a FIFO planted there, and, where asked, without
// following a link. It opens the directories symroute writes into without
// following a link anywhere in their path, for files then opened in them.
package regfile
