package pass

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/symroute/symroute/internal/testns"
)

func TestLockMadeAndHeld(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "sync.lock")
	lk, err := AcquireLock(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 || !st.Mode().IsRegular() {
		t.Fatalf("lock file %v, %v: want a regular 0600 file", st, err)
	}
	// Held: a second taker gives up after its wait.
	if _, err := AcquireLock(path, 50*time.Millisecond); !errors.Is(err, ErrLockBusy) {
		t.Fatalf("second AcquireLock = %v, want ErrLockBusy", err)
	}
	lk.Unlock()
	lk2, err := AcquireLock(path, 50*time.Millisecond)
	if err != nil {
		t.Fatalf("after Unlock: %v", err)
	}
	lk2.Unlock()
}

// A lock the running user does not own alone is refused, and nothing is
// created or locked elsewhere.
func TestLockRefused(t *testing.T) {
	for _, tc := range []struct {
		name  string
		plant func(t *testing.T, path string)
		want  string
	}{
		{"symlink", func(t *testing.T, path string) {
			if err := os.Symlink(filepath.Join(filepath.Dir(path), "target"), path); err != nil {
				t.Fatal(err)
			}
		}, "is a symbolic link"},
		{"fifo", func(t *testing.T, path string) {
			if err := syscall.Mkfifo(path, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "not a regular file"},
		{"directory", func(t *testing.T, path string) {
			if err := os.Mkdir(path, 0o700); err != nil {
				t.Fatal(err)
			}
		}, "is a directory"},
		{"readable by others", func(t *testing.T, path string) {
			if err := os.WriteFile(path, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			// Set after creation: the umask may have taken bits off.
			if err := os.Chmod(path, 0o644); err != nil {
				t.Fatal(err)
			}
		}, "mode 0644 lets others open it"},
		{"owned by another user", func(t *testing.T, path string) {
			testns.RequireRoot(t)
			if err := os.WriteFile(path, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(path, 65534, 65534); err != nil {
				t.Fatal(err)
			}
		}, "owned by uid 65534"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "sync.lock")
			tc.plant(t, path)
			done := make(chan error, 1)
			go func() {
				lk, err := AcquireLock(path, 50*time.Millisecond)
				if err == nil {
					lk.Unlock()
				}
				done <- err
			}()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("AcquireLock = %v, want an error saying %q", err, tc.want)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("AcquireLock blocked")
			}
			if _, err := os.Lstat(filepath.Join(dir, "target")); err == nil {
				t.Fatal("the symlink's target was created")
			}
		})
	}
}

// A lock whose directory others may write, or that is a link to one, is
// refused before any file is made in it.
func TestLockDirRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		dir  func(t *testing.T) string
		want string
	}{
		{"writable by others", func(t *testing.T) string {
			dir := filepath.Join(t.TempDir(), "lock")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			// Set after creation, with the sticky bit /tmp has: it does
			// not stop a file being planted.
			if err := os.Chmod(dir, os.ModeSticky|0o777); err != nil {
				t.Fatal(err)
			}
			return dir
		}, "mode 1777 lets others write it"},
		{"a symbolic link", func(t *testing.T) string {
			base := t.TempDir()
			if err := os.Symlink(t.TempDir(), filepath.Join(base, "lock")); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(base, "lock")
		}, "is a symbolic link"},
		{"owned by another user", func(t *testing.T) string {
			testns.RequireRoot(t)
			dir := filepath.Join(t.TempDir(), "lock")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(dir, 65534, 65534); err != nil {
				t.Fatal(err)
			}
			return dir
		}, "owned by uid 65534"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := tc.dir(t)
			path := filepath.Join(dir, "sync.lock")
			lk, err := AcquireLock(path, 50*time.Millisecond)
			if err == nil {
				lk.Unlock()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("AcquireLock = %v, want an error saying %q", err, tc.want)
			}
			if _, err := os.Lstat(path); err == nil {
				t.Fatal("the lock file was made in the refused directory")
			}
		})
	}
}
