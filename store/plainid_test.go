package store

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// plainIDSpec is what plainID implements, as the regexp it replaced.
var plainIDSpec = regexp.MustCompile(`^[a-z0-9_-][a-z0-9._-]{0,99}$`)

func TestPlainIDMatchesItsRegexp(t *testing.T) {
	ids := []string{
		"", "a", "A", ".", "..", ".a", "a.", "-a", "_", "a b", "a/b", `a\b`, "a\n", "a\x00", "é", "\xff",
		"0123456789abcdefghijklmnopqrstuvwxyz-_.", "sbx-1a2b.c3", "con", "nul.json",
		strings.Repeat("a", 99), strings.Repeat("a", 100), strings.Repeat("a", 101), "." + strings.Repeat("a", 99),
	}
	// And random strings over an alphabet of allowed, upper case, separator,
	// control and multi-byte characters.
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []rune("az09_-.AZ/\\: \n\x00é中\ufffd")
	for range 20000 {
		n := r.IntN(104)
		var b strings.Builder
		for range n {
			if r.IntN(8) == 0 {
				b.WriteRune(alphabet[r.IntN(len(alphabet))])
			} else {
				b.WriteByte("abcxyz0189_-."[r.IntN(13)])
			}
		}
		ids = append(ids, b.String())
	}
	for _, id := range ids {
		if got, want := plainID(id), plainIDSpec.MatchString(id); got != want {
			t.Errorf("plainID(%q) = %v, the regexp says %v", id, got, want)
		}
	}
}
