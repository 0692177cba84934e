package hooks

import (
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// The actions that make a pass are decided here; hooks/doc.go and the
// README's "Triggers" section say them too. Each word of each set must
// appear in both, as a word, in the paragraph of its source.
func TestDocsNameEveryAction(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	triggers := string(readme)
	if i := strings.Index(triggers, "## Triggers"); i >= 0 {
		triggers = triggers[i:]
	}
	if i := strings.Index(triggers[3:], "\n## "); i >= 0 {
		triggers = triggers[:i+3]
	}
	for _, src := range []struct {
		name   string
		set    map[string]bool
		anchor string // where the source's paragraph starts, in both texts
	}{
		{"NetworkManager", nmPass, "NetworkManager"},
		{"networkd", networkdPass, "networkd"},
		{"dhclient", dhclientPass, "dhclient"},
		{"dhcpcd", dhcpcdPass, "dhcpcd"},
	} {
		words := make([]string, 0, len(src.set))
		for w := range src.set {
			words = append(words, w)
		}
		sort.Strings(words)
		for _, text := range []struct{ what, s string }{{"hooks/doc.go", string(doc)}, {"README.md", triggers}} {
			for _, w := range words {
				if !regexp.MustCompile(`(^|[^\w-])` + regexp.QuoteMeta(w) + `([^\w-]|$)`).MatchString(text.s) {
					t.Errorf("%s does not name %s's action %s", text.what, src.name, w)
				}
			}
		}
	}
}
