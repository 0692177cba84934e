// Package kubernetes holds symroute's DaemonSet (symroute.yaml) and the
// test that checks it. It has no code: no cluster is reachable where the
// tests run, so what can be proven about the manifest is proven by reading
// it. The test parses it with a reader of the YAML it uses (mappings,
// sequences, plain and quoted scalars, flow sequences, literal blocks:
// anything else is an error, so the reader cannot misread what it does not
// know) rather than a YAML module, which the project does not otherwise
// need, and checks what the pod needs against the code and the image's
// build: the host paths the binary reads and writes, the lock shared with
// the hooks, the image packaging/container/build.sh tags, the arguments
// config.Parse accepts, and the security context and resources.
package kubernetes
