// Package cmdline writes the wassette commands that messages tell a person to run.
package cmdline

import "strings"

// Quote returns s as one argument of a POSIX shell command line: as it is if that is
// safe, otherwise in single quotes.
func Quote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r == '-' || r == '_' || r == '.' || r == '/' || r == ':' || r == '@' || r == '=' || r == ',' ||
			'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9')
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Wassette returns the wassette command line with args, each quoted as needed.
func Wassette(args ...string) string {
	var b strings.Builder
	b.WriteString("wassette")
	for _, a := range args {
		b.WriteByte(' ')
		b.WriteString(Quote(a))
	}
	return b.String()
}
