package hooks

import (
	"os"
	"regexp"
	"sort"
	"testing"

	"github.com/symroute/symroute/internal/testbed"
)

// The actions that make a pass are decided here; hooks/doc.go and the
// README's "Triggers" section say them too. Each word of each set must
// appear in both, as a word (where in them is for a reader to see: the
// sources share words such as "up").
func TestDocsNameEveryAction(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	triggers, err := testbed.ReadmeSection("Triggers")
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range []struct {
		name string
		set  map[string]bool
	}{
		{"NetworkManager", nmPass},
		{"networkd", networkdPass},
		{"dhclient", dhclientPass},
		{"dhcpcd", dhcpcdPass},
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
