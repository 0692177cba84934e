// Package nsthread runs a function inside a network namespace, on an OS
// thread of its own: what the kernel adapter needs to open its sockets in a
// namespace, and what the tests need to make theirs.
package nsthread
