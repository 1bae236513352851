package schema_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"aipaint-mcp/schema"
)

// FuzzNormalizeGenerate checks that whatever a model sends, normalisation
// either refuses it with an ArgError or returns something the upstream
// accepts as is. Seeds live in testdata/fuzz/FuzzNormalizeGenerate.
func FuzzNormalizeGenerate(f *testing.F) {
	f.Add("竹林里的熊猫，晨雾", "cyberpunk", "portrait", 2)
	f.Add(strings.Repeat("熊", 100), "", "", 0)
	f.Fuzz(func(t *testing.T, text, style, resolution string, num int) {
		lim := schema.Limits{MaxWaitSeconds: 50}
		args := map[string]any{"text": text, "style": style, "resolution": resolution}
		// Exercise each way a number arrives: JSON float, Go int, quoted.
		switch {
		case num%3 == 0:
			args["num"] = float64(num)
		case num%3 == 1 || num%3 == -1:
			args["num"] = num
		default:
			args["num"] = strings.Repeat(" ", num&1) + strconv.Itoa(num)
		}
		g, err := schema.NormalizeGenerate(args, lim)
		if err != nil {
			var ae *schema.ArgError
			if !errors.As(err, &ae) || len(ae.Problems) == 0 {
				t.Fatalf("error is not a non-empty ArgError: %T %v", err, err)
			}
			for _, p := range ae.Problems {
				if p == "" {
					t.Fatalf("empty problem in %q", ae.Problems)
				}
			}
			return
		}
		n := utf8.RuneCountInString(g.Text)
		if n < 1 || n > schema.MaxTextChars {
			t.Fatalf("text has %d characters: %q", n, g.Text)
		}
		if !utf8.ValidString(g.Text) {
			t.Fatalf("text is not valid UTF-8: %q", g.Text)
		}
		if i := strings.IndexFunc(g.Text, unicode.IsControl); i >= 0 {
			t.Fatalf("text has a control character at byte %d: %q", i, g.Text)
		}
		if strings.TrimSpace(g.Text) != g.Text {
			t.Fatalf("text is not trimmed: %q", g.Text)
		}
		if again, err := schema.NormalizeText(g.Text); err != nil || again != g.Text {
			t.Fatalf("NormalizeText is not idempotent: %q -> %q, %v", g.Text, again, err)
		}
		if !schema.ExactStyle(g.Style.Name) {
			t.Fatalf("style %q is not canonical", g.Style.Name)
		}
		if _, ok := schema.ExactResolution(g.Resolution.Value); !ok {
			t.Fatalf("resolution %q is not canonical", g.Resolution.Value)
		}
		if g.Num < schema.MinNum || g.Num > schema.MaxNum {
			t.Fatalf("num %d out of range", g.Num)
		}
		if g.Num != num {
			t.Fatalf("num %d, sent %d", g.Num, num)
		}
		if g.WaitSeconds != 40 || !g.Wait {
			t.Fatalf("defaults changed: wait %v, wait_seconds %d", g.Wait, g.WaitSeconds)
		}
		// An alias resolves to the entry it names; a blank one to the default.
		if strings.TrimSpace(style) == "" {
			if g.Style.Name != schema.DefaultStyle().Name {
				t.Fatalf("blank style gave %q", g.Style.Name)
			}
		} else if st, err := schema.ParseStyle(style); err != nil || st.Name != g.Style.Name {
			t.Fatalf("style %q: ParseStyle disagrees (%q, %v)", style, st.Name, err)
		}
	})
}
