package kubernetes

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A reader of the YAML subset symroute.yaml is written in. A node is a
// map[string]any, a []any or a string (scalars stay strings: the checks
// compare "true", not true). Anything outside the subset (anchors, tags,
// folded blocks, flow mappings, tabs, a key given twice) is an error.

// yamlLine is one line of the source: its indentation and its text with
// any comment removed ("" for a blank or comment line).
type yamlLine struct {
	no     int // 1-based, for errors
	indent int
	text   string
	raw    string
}

type yamlParser struct {
	lines []yamlLine
	i     int
}

// parseYAML parses src's documents, separated by "---" lines.
func parseYAML(src string) ([]any, error) {
	var docs []any
	var cur []yamlLine
	flush := func() error {
		p := &yamlParser{lines: cur}
		if ind, _, ok := p.peek(); ok {
			v, err := p.node(ind)
			if err != nil {
				return err
			}
			if _, _, ok := p.peek(); ok {
				return fmt.Errorf("line %d: unexpected indentation", p.lines[p.i].no)
			}
			docs = append(docs, v)
		}
		cur = nil
		return nil
	}
	for n, raw := range strings.Split(src, "\n") {
		if raw == "---" {
			if err := flush(); err != nil {
				return nil, err
			}
			continue
		}
		l, err := splitLine(n+1, raw)
		if err != nil {
			return nil, err
		}
		cur = append(cur, l)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return docs, nil
}

func splitLine(no int, raw string) (yamlLine, error) {
	body := strings.TrimLeft(raw, " ")
	if strings.HasPrefix(body, "\t") {
		return yamlLine{}, fmt.Errorf("line %d: a tab in the indentation", no)
	}
	l := yamlLine{no: no, indent: len(raw) - len(body), raw: raw}
	l.text = strings.TrimRight(stripComment(body), " ")
	return l, nil
}

// unquoted calls stop with the index of each byte of s outside quotes,
// until it returns true.
func unquoted(s string, stop func(i int) bool) {
	var quote byte
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case stop(i):
			return
		}
	}
}

// stripComment cuts a "#" that starts the text or follows a space, outside
// quotes.
func stripComment(s string) string {
	end := len(s)
	unquoted(s, func(i int) bool {
		if s[i] == '#' && (i == 0 || s[i-1] == ' ') {
			end = i
			return true
		}
		return false
	})
	return s[:end]
}

// peek returns the next line with content, skipping blank ones.
func (p *yamlParser) peek() (indent int, text string, ok bool) {
	for p.i < len(p.lines) && p.lines[p.i].text == "" {
		p.i++
	}
	if p.i == len(p.lines) {
		return 0, "", false
	}
	return p.lines[p.i].indent, p.lines[p.i].text, true
}

func isItem(text string) bool { return text == "-" || strings.HasPrefix(text, "- ") }

var keyRE = regexp.MustCompile(`^([A-Za-z0-9_./-]+):( |$)`)

// node reads the block node whose lines start at indent.
func (p *yamlParser) node(indent int) (any, error) {
	_, text, _ := p.peek()
	if isItem(text) {
		return p.sequence(indent)
	}
	if keyRE.MatchString(text) {
		return p.mapping(indent)
	}
	p.i++
	return scalar(text)
}

func (p *yamlParser) mapping(indent int) (map[string]any, error) {
	m := map[string]any{}
	for {
		ind, text, ok := p.peek()
		if !ok || ind < indent || (ind == indent && isItem(text)) {
			return m, nil
		}
		no := p.lines[p.i].no
		km := keyRE.FindStringSubmatch(text)
		if ind > indent || km == nil {
			return nil, fmt.Errorf("line %d: want a key at indentation %d: %q", no, indent, text)
		}
		key, rest := km[1], strings.TrimSpace(text[len(km[0]):])
		if _, dup := m[key]; dup {
			return nil, fmt.Errorf("line %d: key %q given twice", no, key)
		}
		p.i++
		v, err := p.value(indent, rest)
		if err != nil {
			return nil, fmt.Errorf("line %d: %s: %w", no, key, err)
		}
		m[key] = v
	}
}

// value reads what follows "key:" (rest on its line, or the block below).
func (p *yamlParser) value(indent int, rest string) (any, error) {
	switch {
	case rest == "|":
		return p.literal(indent), nil
	case rest != "":
		return scalar(rest)
	}
	ind, text, ok := p.peek()
	switch {
	case ok && ind > indent:
		return p.node(ind)
	case ok && ind == indent && isItem(text):
		return p.sequence(indent)
	}
	return "", nil
}

func (p *yamlParser) sequence(indent int) ([]any, error) {
	var seq []any
	for {
		ind, text, ok := p.peek()
		if !ok || ind != indent || !isItem(text) {
			return seq, nil
		}
		item := strings.TrimLeft(text[1:], " ")
		if item == "" {
			p.i++
			v, err := p.value(indent, "")
			if err != nil {
				return nil, err
			}
			seq = append(seq, v)
			continue
		}
		// "- key: v" starts a mapping whose keys line up with "key":
		// the line is read again as that mapping's first.
		p.lines[p.i].indent, p.lines[p.i].text = indent+len(text)-len(item), item
		v, err := p.node(p.lines[p.i].indent)
		if err != nil {
			return nil, err
		}
		seq = append(seq, v)
	}
}

// literal reads a "|" block: the lines below indented past the key, their
// common indentation removed, ending in one newline.
func (p *yamlParser) literal(indent int) string {
	var lines []string
	block := -1
	for ; p.i < len(p.lines); p.i++ {
		l := p.lines[p.i]
		if strings.TrimSpace(l.raw) == "" {
			lines = append(lines, "")
			continue
		}
		if l.indent <= indent {
			break
		}
		if block < 0 {
			block = l.indent
		}
		lines = append(lines, l.raw[min(block, l.indent):])
	}
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return strings.Join(lines, "\n") + "\n"
}

func scalar(s string) (any, error) {
	switch {
	case strings.HasPrefix(s, "["):
		if !strings.HasSuffix(s, "]") {
			return nil, fmt.Errorf("unterminated flow sequence %q", s)
		}
		return flowSequence(s[1 : len(s)-1])
	case s == "{}":
		return map[string]any{}, nil
	case strings.HasPrefix(s, `"`):
		return strconv.Unquote(s)
	case strings.HasPrefix(s, "'"):
		if len(s) < 2 || !strings.HasSuffix(s, "'") {
			return nil, fmt.Errorf("unterminated quote %q", s)
		}
		return strings.ReplaceAll(s[1:len(s)-1], "''", "'"), nil
	case strings.ContainsAny(s[:1], "{&*!>%@`|"), strings.Contains(s, ": "):
		return nil, fmt.Errorf("%q is outside the YAML this reader knows", s)
	}
	return s, nil
}

// flowSequence reads the items of "[a, "b", c]", scalars only.
func flowSequence(s string) ([]any, error) {
	seq := []any{}
	if strings.TrimSpace(s) == "" {
		return seq, nil
	}
	start := 0
	items := []string{}
	unquoted(s, func(i int) bool {
		if s[i] == ',' {
			items = append(items, s[start:i])
			start = i + 1
		}
		return false
	})
	items = append(items, s[start:])
	for _, it := range items {
		v, err := scalar(strings.TrimSpace(it))
		if err != nil {
			return nil, err
		}
		if _, ok := v.(string); !ok {
			return nil, fmt.Errorf("flow sequence item %q is not a scalar", it)
		}
		seq = append(seq, v)
	}
	return seq, nil
}

// The reader itself: what it must read, and what it must refuse.
func TestParseYAML(t *testing.T) {
	const src = `# comment
a: 1   # trailing
b:
  c: "x # y"
  d: 'it''s'
  e: [--listen, "--resync-interval", 60s]
list:
- name: one
  v: 1
-   name: two
    sub:
      - x
      - y
conf: |
  # kept
  k = v

    indented
after: z
---
kind: Second
`
	want := []any{
		map[string]any{
			"a": "1",
			"b": map[string]any{"c": "x # y", "d": "it's", "e": []any{"--listen", "--resync-interval", "60s"}},
			"list": []any{
				map[string]any{"name": "one", "v": "1"},
				map[string]any{"name": "two", "sub": []any{"x", "y"}},
			},
			"conf":  "# kept\nk = v\n\n  indented\n",
			"after": "z",
		},
		map[string]any{"kind": "Second"},
	}
	got, err := parseYAML(src)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, bad := range []string{
		"a: 1\na: 2\n",
		"a:\n\tb: 1\n",
		"a: &anchor 1\n",
		"a: {b: 1}\n",
		"a: >\n  folded\n",
		"a: b: c\n",
		"a:\n  b: 1\n    c: 2\n",
		"a: [x, {y: 1}]\n",
	} {
		if v, err := parseYAML(bad); err == nil {
			t.Errorf("parseYAML(%q) = %v, want an error", bad, v)
		}
	}
}
