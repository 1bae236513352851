package schema

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCompleteStyle(t *testing.T) {
	cases := map[string][]string{
		"cyb":    {"赛博朋克"},
		"CYB":    {"赛博朋克"},
		"water":  {"水彩画"},
		"赛":      {"赛博朋克"},
		"poly":   {"low poly"},
		"  oil ": {"油画"},
		"art":    {"像素风格", "概念艺术"}, // pixel art, concept art
		"zzz":    nil,
	}
	for in, want := range cases {
		assert.Equal(t, want, CompleteStyle(in), in)
	}
	assert.Equal(t, StyleNames(), CompleteStyle(""), "an empty prefix offers every style, in table order")
}

func TestCompleteResolution(t *testing.T) {
	cases := map[string][]string{
		"por":   {"1024*1536"},
		"land":  {"1536*1024"},
		"1024":  {"1024*1024", "1024*1536"},
		"1536":  {"1536*1024"},
		"2:3":   {"1024*1536"},
		"竖":     {"1024*1536"},
		"wide?": nil,
	}
	for in, want := range cases {
		assert.Equal(t, want, CompleteResolution(in), in)
	}
	assert.Equal(t, ResolutionValues(), CompleteResolution(""))
}

// Every completion must parse: completions come from the same table as the parser.
func TestCompletionsParse(t *testing.T) {
	for _, p := range []string{"", "a", "c", "o", "p", "w"} {
		for _, s := range CompleteStyle(p) {
			_, err := ParseStyle(s)
			assert.NoError(t, err)
		}
		for _, r := range CompleteResolution(p) {
			_, err := ParseResolution(r)
			assert.NoError(t, err)
		}
	}
}
