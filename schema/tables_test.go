package schema_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"aipaint-mcp/schema"
)

// upstreamStyles is the list in the upstream contract (shared/upstream/API.md),
// in its order. It is typed here on purpose: it is the oracle the table is
// checked against, not a second source for the code.
var upstreamStyles = []string{
	"探索无限", "古风", "二次元", "写实风格", "浮世绘", "low poly", "未来主义", "像素风格", "概念艺术",
	"赛博朋克", "洛丽塔风格", "巴洛克风格", "超现实主义", "水彩画", "蒸汽波艺术", "油画", "卡通画",
}

var upstreamResolutions = []string{"1024*1024", "1024*1536", "1536*1024"}

// spellings returns every way the table says a style can be written.
func styleSpellings(s schema.Style) []string {
	return append([]string{s.Name, s.English}, s.Aliases...)
}

func resolutionSpellings(r schema.Resolution) []string {
	return append([]string{r.Value, r.English}, r.Aliases...)
}

// variants are the case and spacing changes the parser must ignore.
func variants(s string) []string {
	return []string{
		s,
		strings.ToUpper(s),
		mixedCase(s),
		"  " + s + "  ",
		"\t" + s + "\n",
		strings.ReplaceAll(s, " ", "   "),
	}
}

func TestStyleTableMatchesUpstream(t *testing.T) {
	require.Len(t, schema.Styles, 17)
	assert.Equal(t, upstreamStyles, schema.StyleNames())
	assert.Equal(t, "探索无限", schema.DefaultStyle().Name, "the default is the first entry")
	for _, s := range schema.Styles {
		assert.NotEmpty(t, strings.TrimSpace(s.English), "%s: English name", s.Name)
		assert.NotEmpty(t, strings.TrimSpace(s.Description), "%s: description", s.Name)
		assert.Equal(t, strings.TrimSpace(s.Name), s.Name, "%s: canonical name has stray spaces", s.Name)
		for _, a := range s.Aliases {
			assert.NotEmpty(t, strings.TrimSpace(a), "%s: empty alias", s.Name)
		}
	}
}

func TestResolutionTableMatchesUpstream(t *testing.T) {
	require.Len(t, schema.Resolutions, 3)
	assert.Equal(t, upstreamResolutions, schema.ResolutionValues())
	assert.Equal(t, "1024*1024", schema.DefaultResolution().Value)
	for _, r := range schema.Resolutions {
		w, h, ok := strings.Cut(r.Value, "*")
		require.True(t, ok, r.Value)
		assert.Equal(t, w, strconv.Itoa(r.Width), "%s: width", r.Value)
		assert.Equal(t, h, strconv.Itoa(r.Height), "%s: height", r.Value)
		assert.NotEmpty(t, r.English, r.Value)
	}
}

// mixedCase alternates upper and lower case: cYbErPuNk.
func mixedCase(s string) string {
	var b strings.Builder
	for i, c := range []rune(s) {
		if i%2 == 0 {
			b.WriteString(strings.ToLower(string(c)))
		} else {
			b.WriteString(strings.ToUpper(string(c)))
		}
	}
	return b.String()
}

// Aliases are matched case- and space-insensitively, so uniqueness is checked
// on that folded form. An entry may repeat its own spelling (low poly is both
// its name and its English name); two entries may never share one.
func TestNoSpellingNamesTwoEntries(t *testing.T) {
	fold := func(s string) string { return strings.Join(strings.Fields(strings.ToLower(s)), " ") }

	owner := map[string]string{}
	for _, s := range schema.Styles {
		for _, k := range styleSpellings(s) {
			k = fold(k)
			if prev, dup := owner[k]; dup && prev != s.Name {
				t.Errorf("style spelling %q names both %s and %s", k, prev, s.Name)
			}
			owner[k] = s.Name
		}
	}
	owner = map[string]string{}
	for _, r := range schema.Resolutions {
		for _, k := range resolutionSpellings(r) {
			k = fold(k)
			if prev, dup := owner[k]; dup && prev != r.Value {
				t.Errorf("resolution spelling %q names both %s and %s", k, prev, r.Value)
			}
			owner[k] = r.Value
		}
	}
}

func TestParseStyleEverySpelling(t *testing.T) {
	for _, s := range schema.Styles {
		for _, spelling := range styleSpellings(s) {
			for _, in := range variants(spelling) {
				got, err := schema.ParseStyle(in)
				if assert.NoError(t, err, "ParseStyle(%q)", in) {
					assert.Equal(t, s.Name, got.Name, "ParseStyle(%q)", in)
					assert.Equal(t, s, got, "ParseStyle(%q) returns the whole entry", in)
				}
			}
		}
	}
}

// A few spellings a model is likely to send, written out so that a table
// edit that drops one shows up here.
func TestParseCommonAliases(t *testing.T) {
	style := func(in string) (string, error) { s, err := schema.ParseStyle(in); return s.Name, err }
	resolution := func(in string) (string, error) { r, err := schema.ParseResolution(in); return r.Value, err }
	cases := []struct {
		parse    func(string) (string, error)
		in, want string
	}{
		{style, "cyberpunk", "赛博朋克"},
		{style, "Cyber Punk", "赛博朋克"},
		{style, "watercolor", "水彩画"},
		{style, "watercolour", "水彩画"},
		{style, "anime", "二次元"},
		{style, "LOW-POLY", "low poly"},
		{style, "lowpoly", "low poly"},
		{style, "Low  Poly", "low poly"},
		{style, "pixel art", "像素风格"},
		{style, "oil painting", "油画"},
		{style, "ukiyo-e", "浮世绘"},
		{style, "realistic", "写实风格"},
		{style, "vaporwave", "蒸汽波艺术"},
		{style, "default", "探索无限"},
		{style, " 古风 ", "古风"},
		{resolution, "1024x1536", "1024*1536"},
		{resolution, "1024X1536", "1024*1536"},
		{resolution, "1024×1536", "1024*1536"},
		{resolution, "portrait", "1024*1536"},
		{resolution, "2:3", "1024*1536"},
		{resolution, "竖图", "1024*1536"},
		{resolution, "landscape", "1536*1024"},
		{resolution, "3:2", "1536*1024"},
		{resolution, "Square", "1024*1024"},
		{resolution, "1:1", "1024*1024"},
	}
	for _, tc := range cases {
		got, err := tc.parse(tc.in)
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
	}
}

func TestParseStyleUnknown(t *testing.T) {
	for _, in := range []string{"neon", "", "   ", "赛博", "cyberpunk2077", "low_poly"} {
		_, err := schema.ParseStyle(in)
		require.Error(t, err, "ParseStyle(%q)", in)
		msg := err.Error()
		assert.Contains(t, msg, "unknown style")
		assert.Contains(t, msg, "list_styles")
		for _, name := range upstreamStyles {
			assert.Contains(t, msg, name, "the error lists every allowed style")
		}
	}
	_, err := schema.ParseStyle("neon")
	assert.Contains(t, err.Error(), `"neon"`, "the error echoes what was sent")
}

// The error goes back to the model: a huge input must not be echoed whole.
func TestParseErrorsTruncateInput(t *testing.T) {
	long := strings.Repeat("霓", 1000)
	_, err := schema.ParseStyle(long)
	require.Error(t, err)
	assert.Less(t, len(err.Error()), 1000)
	_, err = schema.ParseResolution(long)
	require.Error(t, err)
	assert.Less(t, len(err.Error()), 600)
}

func TestParseResolutionEverySpelling(t *testing.T) {
	for _, r := range schema.Resolutions {
		for _, spelling := range resolutionSpellings(r) {
			for _, in := range variants(spelling) {
				got, err := schema.ParseResolution(in)
				if assert.NoError(t, err, "ParseResolution(%q)", in) {
					assert.Equal(t, r.Value, got.Value, "ParseResolution(%q)", in)
				}
			}
		}
	}
}

func TestParseResolutionUnknown(t *testing.T) {
	for _, in := range []string{"512*512", "", "4k", "1024*1024*1", "16:9"} {
		_, err := schema.ParseResolution(in)
		require.Error(t, err, "ParseResolution(%q)", in)
		assert.Contains(t, err.Error(), "unknown resolution")
		for _, v := range upstreamResolutions {
			assert.Contains(t, err.Error(), v, "the error lists every allowed resolution")
		}
	}
}

func TestExactStyleOnlyCanonical(t *testing.T) {
	for _, s := range schema.Styles {
		assert.True(t, schema.ExactStyle(s.Name), s.Name)
		for _, spelling := range styleSpellings(s) {
			for _, in := range variants(spelling) {
				if in != s.Name {
					assert.False(t, schema.ExactStyle(in), "ExactStyle(%q) accepts a non-canonical spelling", in)
				}
			}
		}
	}
	for _, in := range []string{"", "neon", "LOW POLY", "low  poly", " 古风"} {
		assert.False(t, schema.ExactStyle(in), in)
	}
}

func TestExactResolutionOnlyCanonical(t *testing.T) {
	for _, r := range schema.Resolutions {
		got, ok := schema.ExactResolution(r.Value)
		assert.True(t, ok, r.Value)
		assert.Equal(t, r, got)
		for _, spelling := range resolutionSpellings(r) {
			for _, in := range variants(spelling) {
				if in != r.Value {
					_, ok := schema.ExactResolution(in)
					assert.False(t, ok, "ExactResolution(%q) accepts a non-canonical spelling", in)
				}
			}
		}
	}
	_, ok := schema.ExactResolution("")
	assert.False(t, ok)
}

func TestListStylesMatchesTables(t *testing.T) {
	got := schema.ListStyles()
	assert.Equal(t, schema.Styles, got.Styles)
	assert.Equal(t, schema.Resolutions, got.Resolutions)
	assert.Equal(t, "探索无限", got.DefaultStyle)
	assert.Equal(t, "1024*1024", got.DefaultResolution)
	assert.Equal(t, 100, got.MaxTextChars)
	assert.Equal(t, 6, got.MaxNum)

	// The JSON has every style and resolution with all required fields.
	b, err := json.Marshal(got)
	require.NoError(t, err)
	var back struct {
		Styles []struct {
			Name, English, Description string
			Aliases                    []string
		} `json:"styles"`
		Resolutions []struct {
			Value  string `json:"value"`
			Width  int    `json:"width"`
			Height int    `json:"height"`
		} `json:"resolutions"`
	}
	require.NoError(t, json.Unmarshal(b, &back))
	require.Len(t, back.Styles, 17)
	for i, s := range back.Styles {
		assert.Equal(t, upstreamStyles[i], s.Name)
		assert.NotNil(t, s.Aliases, "%s: aliases must be a list, not null (the output schema requires it)", s.Name)
	}
	require.Len(t, back.Resolutions, 3)
	for i, r := range back.Resolutions {
		assert.Equal(t, upstreamResolutions[i], r.Value)
	}
}

func BenchmarkParseStyleAlias(b *testing.B) {
	inputs := []string{"cyberpunk", "  Cyber Punk ", "WATERCOLOR", "赛博朋克", "low-poly"}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := schema.ParseStyle(inputs[i%len(inputs)]); err != nil {
			b.Fatal(err)
		}
	}
}
