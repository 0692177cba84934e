package plan

import (
	"os/exec"
	"testing"
)

// A quoted name reads back as itself in sh, and shows no control
// character to the terminal that prints the plan.
func TestShellQuote(t *testing.T) {
	for _, name := range []string{"em1", "em1.100", "$(reboot)", "a'b", "x\x1b[31my", "p%s\\q'\x07", "\xff\xfe"} {
		q := ShellQuote(name)
		for i := 0; i < len(q); i++ {
			if q[i] < 0x20 || q[i] >= 0x7f {
				t.Errorf("ShellQuote(%q) = %q holds byte %#x", name, q, q[i])
			}
		}
		out, err := exec.Command("sh", "-c", "printf '%s' "+q).Output()
		if err != nil || string(out) != name {
			t.Errorf("sh reads ShellQuote(%q) = %s back as %q (%v)", name, q, out, err)
		}
	}
}
