package e2e

// The test bed's files: every file a test writes or copies (configuration,
// the hooks as packaged, its own logging hooks, a copy of the binary) goes
// through writeFile or copyFile, which set the mode exactly, past the
// umask. In e2e rather than internal/testbed: they fail their test.

import (
	"os"
	"path/filepath"
	"testing"
)

// repoFile is a path of the repository, from e2e.
func repoFile(path ...string) string { return filepath.Join(append([]string{".."}, path...)...) }

// writeFile writes body to path with exactly mode.
func writeFile(t *testing.T, path, body string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // past the umask
		t.Fatal(err)
	}
}

// copyFile copies src to dst byte for byte, with exactly mode.
func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dst, string(b), mode)
}

// mkdirs makes root and each of dirs under it.
func mkdirs(t *testing.T, root string, dirs ...string) {
	t.Helper()
	for _, d := range append([]string{""}, dirs...) {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// installAsPackaged copies a dispatcher script of the repository as
// packaged, byte for byte, to dst with the mode it is installed with
// (0755, root:root): NetworkManager skips a script that is group- or
// other-writable, networkd-dispatcher one whose mode is not exactly 0755.
func installAsPackaged(t *testing.T, src, dst string) {
	t.Helper()
	st, err := os.Stat(src)
	if err != nil {
		t.Fatalf("the packaged hook: %v", err)
	}
	if st.Mode().Perm()&0o111 != 0o111 || st.Mode().Perm()&0o022 != 0 {
		t.Errorf("%s has mode %v in the source tree: want it executable by all, writable by its owner only", src, st.Mode().Perm())
	}
	copyFile(t, src, dst, 0o755)
	if err := os.Chown(dst, 0, 0); err != nil {
		t.Fatal(err)
	}
}
