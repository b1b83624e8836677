// Package yamltest makes hostile YAML inputs for the tests of wassette's YAML readers
// (secrets files and policies), and checks that an error quotes none of an input's
// values. It is used by tests only.
package yamltest

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Case is one input.
type Case struct {
	Data []byte
	// Values holds every text the case put where a value, an anchor, an alias or a tag
	// goes. No error may contain any of them.
	Values []string
	// Hidden holds texts put where a key goes that do not look like keys; no error may
	// contain them either.
	Hidden []string
	// Marker, when set, narrows the check to the input's scalars that contain it (for
	// fuzzing, where the input is not ours): an error must contain no such scalar, and
	// no Marker at all when the input is not YAML.
	Marker string
}

// Leak returns the first value of c that msg contains, in plain, quoted, base64 or hex
// form, and whether there is one. Besides c's own lists, every scalar of the input that
// is not a mapping key (and every anchor, alias and tag), six bytes or longer and not one
// of vocab, counts as a value. Mapping keys are names: an error may name them, so they
// are taken out of msg before it is searched.
func Leak(msg string, c Case, vocab ...string) (string, bool) {
	values := append([]string(nil), c.Values...)
	var keys []string
	var doc yaml.Node
	if err := yaml.Unmarshal(c.Data, &doc); err == nil {
		walk(&doc, false, func(s string, key bool) {
			switch {
			case key:
				keys = append(keys, s)
			case c.Marker != "":
				if strings.Contains(s, c.Marker) {
					values = append(values, s)
				}
			case len(s) >= 6 && !contains(vocab, s):
				values = append(values, s)
			}
		})
	} else if c.Marker != "" {
		values = append(values, c.Marker)
	}
	for _, h := range c.Hidden {
		if found(msg, h) {
			return h, true
		}
	}
	for _, k := range keys {
		if k != "" {
			msg = strings.ReplaceAll(msg, k, "")
		}
	}
	for _, v := range values {
		if found(msg, v) {
			return v, true
		}
	}
	return "", false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func found(msg, v string) bool {
	if v == "" {
		return false
	}
	q := strconv.Quote(v)
	for _, form := range []string{v, q[1 : len(q)-1], base64.StdEncoding.EncodeToString([]byte(v)),
		base64.RawURLEncoding.EncodeToString([]byte(v)), hex.EncodeToString([]byte(v)),
		strings.ToUpper(hex.EncodeToString([]byte(v)))} {
		if strings.Contains(msg, form) {
			return true
		}
	}
	return false
}

// walk calls f for every scalar of n (key reports a mapping key) and for every anchor,
// alias and tag.
func walk(n *yaml.Node, key bool, f func(s string, key bool)) {
	if n.Anchor != "" {
		f(n.Anchor, false)
	}
	if n.Style&yaml.TaggedStyle != 0 {
		f(strings.TrimLeft(n.Tag, "!"), false)
	}
	switch n.Kind {
	case yaml.ScalarNode:
		f(n.Value, key)
	case yaml.AliasNode:
		f(n.Value, false)
	case yaml.MappingNode:
		for i, c := range n.Content {
			walk(c, i%2 == 0, f)
		}
		return
	}
	for _, c := range n.Content {
		walk(c, false, f)
	}
}

// gen builds cases from one random source.
type gen struct {
	r      *rand.Rand
	values []string
	hidden []string
}

const (
	lower  = "abcdefghijklmnopqrstuvwxyz"
	alnum  = lower + "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	others = "+/=.-_~:@#%^()<>?é🙂 "
)

// token returns a new random value, 10 to 24 characters, remembered as a value.
func (g *gen) token() string {
	return g.remember(g.word(alnum + others))
}

// name returns a new random name fit for an anchor or a tag (letters and digits).
func (g *gen) name() string { return g.remember(g.word(alnum)) }

func (g *gen) word(chars string) string {
	rs := []rune(chars)
	n := 10 + g.r.IntN(15)
	var b strings.Builder
	b.WriteString("Zq") // never a word of any message
	for b.Len() < n {
		b.WriteRune(rs[g.r.IntN(len(rs))])
	}
	return strings.TrimSpace(b.String())
}

func (g *gen) remember(s string) string { g.values = append(g.values, s); return s }

// plain returns a token safe as a plain (unquoted) scalar.
func (g *gen) plain() string { return g.remember(g.word(alnum + "+/=.-_~")) }

func (g *gen) pick(options ...string) string { return options[g.r.IntN(len(options))] }

// hostile returns a value written with one construct the readers must refuse or read as
// its text: anchors, aliases, tags, merge keys, bad quoting, bad escapes, control
// characters, invalid UTF-8, nesting.
func (g *gen) hostile() string {
	switch g.r.IntN(25) {
	case 0:
		return "&" + g.name() + " " + g.plain()
	case 1:
		return "*" + g.name()
	case 2:
		return "!" + g.name() + " " + g.plain()
	case 3:
		return "!" + g.name()
	case 4:
		return "!!str " + g.plain()
	case 5:
		return "! " + g.plain()
	case 6:
		return "!<tag:" + g.name() + ",2000:x> " + g.plain()
	case 7:
		return `"` + g.plain() + `\q"`
	case 8:
		return `"` + g.plain()
	case 9:
		return "'" + g.plain()
	case 10:
		return "[" + g.plain()
	case 11:
		return "{" + g.plain() + ": " + g.plain()
	case 12:
		return g.plain() + ": " + g.plain()
	case 13:
		return "@" + g.plain()
	case 14:
		return g.plain() + "\x01"
	case 15:
		return g.plain() + "\xff\xfe"
	case 16:
		return "\n  nested: " + g.plain()
	case 17:
		return "[" + g.plain() + ", " + g.plain() + "]"
	case 18:
		return `"` + g.plain() + `\uZZZZ"`
	case 19:
		return "|\n  " + g.plain() + "\n bad: " + g.plain()
	case 20:
		return "&" + g.name() + " [" + g.plain() + "]"
	case 21:
		return `"` + g.plain() + `\0"` // a NUL, which values may not hold
	case 22:
		return "{[" + g.plain() + "]: " + g.plain() + "}" // a key that is not a string
	case 23:
		return "!!binary " + g.plain()
	default:
		return "`" + g.plain()
	}
}

// value returns a value as a person might write it: mostly fine, sometimes hostile.
func (g *gen) value() string {
	switch g.r.IntN(8) {
	case 0:
		return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(g.token()) + `"`
	case 1:
		return "'" + strings.ReplaceAll(g.token(), "'", "''") + "'"
	case 2:
		return "|\n  " + g.plain() + "\n  " + g.plain()
	case 3, 4:
		return g.plain()
	default:
		return g.hostile()
	}
}

// mutate damages data in a few random places with characters that YAML gives meaning to.
func (g *gen) mutate(data []byte) []byte {
	const marks = ":-?[]{},&*!|>'\"%@`# \t\n\\<"
	for range g.r.IntN(3) {
		if len(data) == 0 {
			break
		}
		i := g.r.IntN(len(data))
		switch g.r.IntN(3) {
		case 0:
			data = append(data[:i:i], append([]byte{marks[g.r.IntN(len(marks))]}, data[i:]...)...)
		case 1:
			data = append(data[:i:i], data[i+1:]...)
		default:
			data[i] = marks[g.r.IntN(len(marks))]
		}
	}
	return data
}

func (g *gen) done(b *strings.Builder) Case {
	data := []byte(b.String())
	if g.r.IntN(3) == 0 {
		data = g.mutate(data)
	}
	c := Case{Data: data, Values: g.values, Hidden: g.hidden}
	g.values, g.hidden = nil, nil
	return c
}

// Secrets returns n secrets files, made from seed.
func Secrets(n int, seed uint64) []Case {
	g := &gen{r: rand.New(rand.NewPCG(seed, 1))}
	keys := []string{"API_KEY", "ENDPOINT_URL", "TOKEN", "PASSWORD", "K1", "on", "db.url", "X-Y"}
	cases := make([]Case, 0, n)
	for range n {
		var b strings.Builder
		if g.r.IntN(4) == 0 {
			b.WriteString("# Secrets of a component\n\n")
		}
		for range 1 + g.r.IntN(5) {
			switch g.r.IntN(12) {
			case 0: // a key that is not valid, holding a value
				k := g.remember(g.word(alnum) + " " + g.word(alnum))
				fmt.Fprintf(&b, "%q: %s\n", k, g.value())
			case 1:
				fmt.Fprintf(&b, "<<: %s\n", g.pick("*"+g.name(), "{A: "+g.plain()+"}", "["+g.plain()+"]"))
			case 2:
				fmt.Fprintf(&b, "&%s %s: %s\n", g.name(), g.pick(keys...), g.plain())
			case 3:
				fmt.Fprintf(&b, "*%s: %s\n", g.name(), g.plain())
			case 4:
				fmt.Fprintf(&b, "---\n%s: %s\n", g.pick(keys...), g.value())
			case 5:
				fmt.Fprintf(&b, "%s: %s\n%s: %s\n", keys[0], g.value(), keys[0], g.value())
			case 6:
				fmt.Fprintf(&b, "- %s\n", g.value())
			case 7:
				fmt.Fprintf(&b, "? [%s]\n: %s\n", g.plain(), g.value())
			default:
				fmt.Fprintf(&b, "%s: %s\n", g.pick(keys...), g.value())
			}
		}
		cases = append(cases, g.done(&b))
	}
	return cases
}

// PolicyVocabulary is the text a policy's messages may hold although an input holds it
// as a value: the values the format itself defines.
var PolicyVocabulary = []string{"read", "write", "1.0"}

// Policies returns n policy files, made from seed.
func Policies(n int, seed uint64) []Case {
	g := &gen{r: rand.New(rand.NewPCG(seed, 2))}
	cases := make([]Case, 0, n)
	for range n {
		// One field in each file (or none, now and then) gets a hostile or wrong value,
		// so that every field's checks are reached.
		bad, at := g.r.IntN(12), 0
		v := func(good string, wrong ...string) string {
			at++
			if at != bad {
				return good
			}
			switch g.r.IntN(3) {
			case 0:
				if len(wrong) > 0 {
					return g.pick(wrong...)
				}
				fallthrough
			case 1:
				return g.plain() // wrong, as text
			}
			return g.hostile()
		}
		field := func(name string) string {
			switch g.r.IntN(40) {
			case 0:
				return name[:len(name)-1] // a typo
			case 1:
				h := g.word(alnum+"+/=") + "+" + g.word(alnum)
				g.hidden = append(g.hidden, h)
				return strconv.Quote(h)
			}
			return name
		}
		var b strings.Builder
		fmt.Fprintf(&b, "%s: %s\n", field("version"), v(`"1.0"`))
		fmt.Fprintf(&b, "%s: %s\n", field("description"), v(`"`+g.plain()+`"`, g.value()))
		fmt.Fprintf(&b, "%s:\n", field("permissions"))
		fmt.Fprintf(&b, "  %s:\n    allow:\n", field("storage"))
		fmt.Fprintf(&b, "      - %s: %s\n        %s: %s\n", field("uri"), v(`"fs:///`+g.plain()+`"`, `"`+g.plain()+`"`),
			field("access"), v(g.pick("[read]", "[read, write]"), "[]", "["+g.plain()+"]", "read"))
		fmt.Fprintf(&b, "  %s:\n    allow:\n", field("network"))
		fmt.Fprintf(&b, "      - %s: %s\n", field("host"), v(g.word(lower)+".example.com", `"`+g.plain()+`:99999"`))
		fmt.Fprintf(&b, "      - %s: %s\n", field("host"), v(g.word(lower)+".example.org", `"`+g.plain()+`"`))
		fmt.Fprintf(&b, "  %s:\n    allow:\n", field("environment"))
		fmt.Fprintf(&b, "      - %s: %s\n        %s: %s\n", field("key"), v("API_KEY", `"`+g.remember(g.word(alnum)+" x")+`"`),
			field("value"), v(`"`+g.plain()+`"`, g.value(), `"`+g.plain()+`\0"`))
		fmt.Fprintf(&b, "      - key: %s\n", v("REGION", "API_KEY"))
		fmt.Fprintf(&b, "  %s:\n    limits:\n      memory: %s\n      timeout: %s\n", field("resources"),
			v("64Mi", "0", "5Gi"), v("30s", "-1s"))
		switch g.r.IntN(10) {
		case 0:
			fmt.Fprintf(&b, "  <<: %s\n", g.pick("*"+g.name(), "{network: {allow: ["+g.plain()+"]}}"))
		case 1:
			fmt.Fprintf(&b, "  network: %s\n", g.pick(g.plain(), "["+g.plain()+"]")) // a section that is not a map; repeated
		case 2:
			fmt.Fprintf(&b, "  ? [%s]\n  : %s\n", g.plain(), g.plain()) // a field name that is not text
		case 3:
			fmt.Fprintf(&b, "---\ndescription: %s\n", g.value())
		case 4: // a file of one section that is not a map
			b.Reset()
			fmt.Fprintf(&b, "permissions:\n  %s: %s\n", g.pick("storage", "network", "environment", "resources"),
				g.pick(g.plain(), "["+g.plain()+"]"))
		}
		cases = append(cases, g.done(&b))
	}
	return cases
}
