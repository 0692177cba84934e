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
