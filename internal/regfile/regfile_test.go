package regfile

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, []byte("0123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	fifo := filepath.Join(dir, "fifo")
	if err := os.Symlink(file, link); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := Read(file, false, 4); err != nil || string(b) != "0123" {
		t.Errorf("Read(file, limit 4) = %q, %v", b, err)
	}
	if b, err := Read(link, true, 100); err != nil || string(b) != "0123456789" {
		t.Errorf("Read(link, follow) = %q, %v", b, err)
	}
	if _, err := Read(link, false, 100); !errors.Is(err, syscall.ELOOP) {
		t.Errorf("Read(link, no follow): %v, want ELOOP", err)
	}
	done := make(chan error, 1)
	go func() { _, err := Read(fifo, true, 100); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrNotRegular) {
			t.Errorf("Read(fifo): %v, want ErrNotRegular", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Read blocked on a FIFO")
	}
	if _, err := Read(dir, true, 100); !errors.Is(err, ErrNotRegular) {
		t.Errorf("Read(dir): %v, want ErrNotRegular", err)
	}
}

// OpenIn opens relative to the directory, as Open by path.
func TestOpenIn(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("0123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("f", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	// Renamed away: the descriptor still reaches it, the path no more.
	moved := dir + ".moved"
	if err := os.Rename(dir, moved); err != nil {
		t.Fatal(err)
	}
	defer os.Rename(moved, dir)
	if b, err := ReadIn(d, "f", false, 4); err != nil || string(b) != "0123" {
		t.Errorf("ReadIn(f, limit 4) = %q, %v", b, err)
	}
	if _, err := ReadIn(d, "link", false, 100); !errors.Is(err, syscall.ELOOP) {
		t.Errorf("ReadIn(link, no follow): %v, want ELOOP", err)
	}
	if _, err := ReadIn(d, "fifo", true, 100); !errors.Is(err, ErrNotRegular) {
		t.Errorf("ReadIn(fifo): %v, want ErrNotRegular", err)
	}
}

// OpenDir follows no link in any component of the path, whether the kernel
// resolves it (openat2) or the path is walked (kernels before 5.6).
func TestOpenDir(t *testing.T) {
	base := t.TempDir()
	for _, d := range []string{"a/b", "real/b"} {
		if err := os.MkdirAll(filepath.Join(base, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(base, "file"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{"link": "real", "a/last": "b", "a/up": ".."} {
		if err := os.Symlink(target, filepath.Join(base, link)); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		path string
		want error // nil: opens the directory at the path
	}{
		{path: "a/b"},
		{path: "a/b/../b/./"},
		{path: "link", want: syscall.ELOOP},
		{path: "link/b", want: syscall.ELOOP},
		{path: "a/last", want: syscall.ELOOP},
		{path: "a/up/real", want: syscall.ELOOP},
		{path: "none/b", want: syscall.ENOENT},
		{path: "file", want: syscall.ENOTDIR},
		{path: "file/b", want: syscall.ENOTDIR},
	} {
		path := base + "/" + tc.path // as given: Join would clean it
		for name, open := range map[string]func(string) (int, error){
			"OpenDir": func(p string) (int, error) {
				f, err := OpenDir(p)
				if err != nil {
					return -1, err
				}
				fd, err := syscall.Dup(int(f.Fd()))
				f.Close()
				return fd, err
			},
			"walkDir": walkDir,
		} {
			fd, err := open(path)
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Errorf("%s(%s): %v, want %v", name, tc.path, err, tc.want)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s(%s): %v", name, tc.path, err)
				continue
			}
			var got, want syscall.Stat_t
			syscall.Fstat(fd, &got)
			syscall.Close(fd)
			if err := syscall.Stat(path, &want); err != nil || got.Ino != want.Ino || got.Dev != want.Dev {
				t.Errorf("%s(%s) opened inode %d, want %d (%v)", name, tc.path, got.Ino, want.Ino, err)
			}
		}
	}
}
