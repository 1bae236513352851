package schema_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"aipaint-mcp/schema"
)

var lim50 = schema.Limits{MaxWaitSeconds: 50}

// problems returns the ArgError's list, failing the test if err is not one.
func problems(t *testing.T, err error) []string {
	t.Helper()
	require.Error(t, err)
	var ae *schema.ArgError
	require.True(t, errors.As(err, &ae), "want *schema.ArgError, got %T: %v", err, err)
	require.NotEmpty(t, ae.Problems)
	return ae.Problems
}

// oneProblem asserts exactly one problem and returns it.
func oneProblem(t *testing.T, err error) string {
	t.Helper()
	p := problems(t, err)
	require.Len(t, p, 1, "problems: %q", p)
	return p[0]
}

func TestNormalizeTextCountsCharactersNotBytes(t *testing.T) {
	hundred := strings.Repeat("熊", 100) // 300 bytes
	got, err := schema.NormalizeText(hundred)
	require.NoError(t, err)
	assert.Equal(t, hundred, got)

	_, err = schema.NormalizeText(hundred + "猫")
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), "text has 101 characters; the limit is 100 "), err.Error())

	// Emoji are 4 bytes each and still one character.
	emoji := strings.Repeat("🐼", 100)
	_, err = schema.NormalizeText(emoji)
	assert.NoError(t, err)

	ascii := strings.Repeat("a", 100)
	_, err = schema.NormalizeText(ascii)
	assert.NoError(t, err)
	_, err = schema.NormalizeText(ascii + "b")
	assert.ErrorContains(t, err, "text has 101 characters; the limit is 100 ")
}

// The limit applies after trimming: surrounding spaces do not count.
func TestNormalizeTextLimitAfterTrim(t *testing.T) {
	hundred := strings.Repeat("竹", 100)
	got, err := schema.NormalizeText("  \n" + hundred + "\t ")
	require.NoError(t, err)
	assert.Equal(t, hundred, got)
}

// TestNormalizeText: what text becomes, or why it is refused (err).
func TestNormalizeText(t *testing.T) {
	cases := []struct {
		name, in, want, err string
	}{
		{name: "plain", in: "竹林里的熊猫，晨雾", want: "竹林里的熊猫，晨雾"},
		{name: "trimmed", in: "  a panda  ", want: "a panda"},
		{name: "ideographic space trimmed", in: "\u3000熊猫\u3000", want: "熊猫"},
		{name: "newline folded", in: "熊猫\n竹林", want: "熊猫 竹林"},
		{name: "CRLF is one break", in: "熊猫\r\n竹林", want: "熊猫 竹林"},
		{name: "lone CR", in: "熊猫\r竹林", want: "熊猫 竹林"},
		{name: "tab folded", in: "熊猫\t竹林", want: "熊猫 竹林"},
		{name: "inner spaces kept", in: "a  b", want: "a  b"},
		{name: "edge breaks trimmed", in: "\r\n熊猫\r\n", want: "熊猫"},
		{name: "empty", in: "", err: "text is empty"},
		{name: "spaces", in: "   ", err: "text is empty"},
		{name: "only breaks", in: "\r\n\t\n", err: "text is empty"},
		{name: "zero-width only", in: "\u200b\u200b\u202e", err: "text has no visible characters"},
		{name: "ideographic space", in: "\u3000\u200d", err: "text has no visible characters"},
		{name: "NUL", in: "熊\x00猫", err: "control characters"},
		{name: "escape", in: "熊\x1b[31m猫", err: "control characters"},
		{name: "DEL", in: "熊\x7f猫", err: "control characters"},
		{name: "C1 NEL", in: "熊\u0085猫", err: "control characters"},
		{name: "replacement char", in: "熊\uFFFD猫", err: "control characters or invalid bytes"},
		{name: "invalid UTF-8", in: "熊\xff猫", err: "not valid UTF-8"},
		{name: "truncated UTF-8", in: "熊\xe7\x8c", err: "not valid UTF-8"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := schema.NormalizeText(c.in)
			if c.err != "" {
				assert.ErrorContains(t, err, c.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.want, got)
		})
	}
}

func TestNormalizeGenerateDefaults(t *testing.T) {
	g, err := schema.NormalizeGenerate(map[string]any{"text": " 熊猫 "}, lim50)
	require.NoError(t, err)
	assert.Equal(t, schema.Generate{
		Text:        "熊猫",
		Style:       schema.Styles[0],
		Resolution:  schema.Resolutions[0],
		Num:         1,
		Wait:        true,
		WaitSeconds: 40,
	}, g)
	assert.Equal(t, "探索无限", g.Style.Name)
	assert.Equal(t, "1024*1024", g.Resolution.Value)

	// null and blank mean "use the default", as absent does.
	g, err = schema.NormalizeGenerate(map[string]any{
		"text": "熊猫", "style": nil, "resolution": "  ", "num": nil, "wait": nil, "wait_seconds": nil,
	}, lim50)
	require.NoError(t, err)
	assert.Equal(t, "探索无限", g.Style.Name)
	assert.Equal(t, "1024*1024", g.Resolution.Value)
	assert.Equal(t, 1, g.Num)
	assert.True(t, g.Wait)
	assert.Equal(t, 40, g.WaitSeconds)
}

func TestNormalizeGenerateAllSet(t *testing.T) {
	g, err := schema.NormalizeGenerate(map[string]any{
		"text": "霓虹街道", "style": "Cyberpunk", "resolution": "portrait",
		"num": float64(4), "wait": false, "wait_seconds": float64(10),
	}, lim50)
	require.NoError(t, err)
	assert.Equal(t, "赛博朋克", g.Style.Name)
	assert.Equal(t, "1024*1536", g.Resolution.Value)
	assert.Equal(t, 4, g.Num)
	assert.False(t, g.Wait)
	assert.Equal(t, 10, g.WaitSeconds)
}

func TestNormalizeGenerateNum(t *testing.T) {
	ok := []struct {
		in   any
		want int
	}{
		{float64(1), 1}, {float64(6), 6}, {3, 3}, {int64(5), 5}, {"3", 3}, {" 2 ", 2},
		{float64(2.0), 2}, {json.Number("4"), 4}, {json.Number("4.0"), 4},
	}
	for _, c := range ok {
		g, err := schema.NormalizeGenerate(map[string]any{"text": "熊猫", "num": c.in}, lim50)
		if assert.NoError(t, err, "num %#v", c.in) {
			assert.Equal(t, c.want, g.Num, "num %#v", c.in)
		}
	}

	bad := []struct {
		in   any
		want string
	}{
		{float64(0), "num must be between 1 and 6, got 0"},
		{float64(7), "num must be between 1 and 6, got 7"},
		{-1, "num must be between 1 and 6, got -1"},
		{"7", "num must be between 1 and 6, got 7"},
		{float64(2.5), "num must be a whole number, got the number 2.5"},
		{"x", `num must be a whole number, got the string "x"`},
		{"2.5", `num must be a whole number, got the string "2.5"`},
		{true, "num must be a whole number, got true"},
		{[]any{1}, "num must be a whole number, got an array"},
		{map[string]any{}, "num must be a whole number, got an object"},
		{float64(1e300), "num must be a whole number"},
		{json.Number("1.5"), "num must be a whole number"},
	}
	for _, c := range bad {
		_, err := schema.NormalizeGenerate(map[string]any{"text": "熊猫", "num": c.in}, lim50)
		assert.Contains(t, oneProblem(t, err), c.want, "num %#v", c.in)
	}
}

func TestNormalizeGenerateWait(t *testing.T) {
	for in, want := range map[any]bool{true: true, false: false, "false": false, "true": true, " FALSE ": false} {
		g, err := schema.NormalizeGenerate(map[string]any{"text": "熊猫", "wait": in}, lim50)
		if assert.NoError(t, err, "wait %#v", in) {
			assert.Equal(t, want, g.Wait, "wait %#v", in)
		}
	}
	for _, in := range []any{"yes", "no", float64(1), []any{}} {
		_, err := schema.NormalizeGenerate(map[string]any{"text": "熊猫", "wait": in}, lim50)
		assert.Contains(t, oneProblem(t, err), "wait must be true or false", "wait %#v", in)
	}
	_, err := schema.NormalizeGenerate(map[string]any{"text": "熊猫", "wait": "yes"}, lim50)
	assert.Equal(t, `wait must be true or false, got the string "yes"`, oneProblem(t, err))
}

func TestNormalizeGenerateWaitSeconds(t *testing.T) {
	cases := []struct {
		in   any
		lim  schema.Limits
		want int
	}{
		{float64(0), lim50, 0},
		{float64(50), lim50, 50},
		{float64(51), lim50, 50},
		{float64(100000), lim50, 50},
		{"45", lim50, 45},
		{nil, schema.Limits{MaxWaitSeconds: 30}, 30}, // the default 40 is capped too
		{float64(20), schema.Limits{MaxWaitSeconds: 30}, 20},
		// A zero Limits applies no cap. Note config allows
		// AIPAINT_MAX_WAIT_SECONDS=0: the caller must not pass that through as
		// "no waiting" expecting a cap of 0.
		{float64(500), schema.Limits{}, 500},
	}
	for _, c := range cases {
		args := map[string]any{"text": "熊猫", "wait_seconds": c.in}
		g, err := schema.NormalizeGenerate(args, c.lim)
		if assert.NoError(t, err, "wait_seconds %#v, %+v", c.in, c.lim) {
			assert.Equal(t, c.want, g.WaitSeconds, "wait_seconds %#v, %+v", c.in, c.lim)
		}
	}

	_, err := schema.NormalizeGenerate(map[string]any{"text": "熊猫", "wait_seconds": float64(-1)}, lim50)
	assert.Equal(t, "wait_seconds must be 0 or more, got -1", oneProblem(t, err))
	_, err = schema.NormalizeGenerate(map[string]any{"text": "熊猫", "wait_seconds": 1.5}, lim50)
	assert.Contains(t, oneProblem(t, err), "wait_seconds must be a whole number")
}

func TestNormalizeGenerateText(t *testing.T) {
	_, err := schema.NormalizeGenerate(map[string]any{}, lim50)
	assert.Equal(t, "text is required: describe what to draw in 1-100 characters", oneProblem(t, err))

	_, err = schema.NormalizeGenerate(nil, lim50)
	assert.Contains(t, oneProblem(t, err), "text is required")

	_, err = schema.NormalizeGenerate(map[string]any{"text": nil}, lim50)
	assert.Contains(t, oneProblem(t, err), "text is required")

	_, err = schema.NormalizeGenerate(map[string]any{"text": ""}, lim50)
	assert.Contains(t, oneProblem(t, err), "text is empty")

	_, err = schema.NormalizeGenerate(map[string]any{"text": " \n "}, lim50)
	assert.Contains(t, oneProblem(t, err), "text is empty")

	_, err = schema.NormalizeGenerate(map[string]any{"text": float64(42)}, lim50)
	assert.Equal(t, "text must be a string, got the number 42", oneProblem(t, err))

	_, err = schema.NormalizeGenerate(map[string]any{"text": strings.Repeat("画", 101)}, lim50)
	assert.True(t, strings.HasPrefix(oneProblem(t, err), "text has 101 characters; the limit is 100 "))

	_, err = schema.NormalizeGenerate(map[string]any{"text": "熊\x00猫"}, lim50)
	assert.Contains(t, oneProblem(t, err), "control characters")

	_, err = schema.NormalizeGenerate(map[string]any{"text": "熊\xc3猫"}, lim50)
	assert.Contains(t, oneProblem(t, err), "not valid UTF-8")

	g, err := schema.NormalizeGenerate(map[string]any{"text": strings.Repeat("画", 100)}, lim50)
	require.NoError(t, err)
	assert.Equal(t, strings.Repeat("画", 100), g.Text)

	g, err = schema.NormalizeGenerate(map[string]any{"text": "熊猫\r\n竹林"}, lim50)
	require.NoError(t, err)
	assert.Equal(t, "熊猫 竹林", g.Text)
}

func TestNormalizeGenerateStyleAndResolution(t *testing.T) {
	g, err := schema.NormalizeGenerate(map[string]any{"text": "熊猫", "style": " WaterColour ", "resolution": "1536x1024"}, lim50)
	require.NoError(t, err)
	assert.Equal(t, "水彩画", g.Style.Name)
	assert.Equal(t, "1536*1024", g.Resolution.Value)

	_, err = schema.NormalizeGenerate(map[string]any{"text": "熊猫", "style": "neon"}, lim50)
	p := oneProblem(t, err)
	assert.Contains(t, p, `unknown style "neon"`)
	assert.Contains(t, p, "list_styles")
	assert.Contains(t, p, "赛博朋克")

	_, err = schema.NormalizeGenerate(map[string]any{"text": "熊猫", "resolution": "4k"}, lim50)
	p = oneProblem(t, err)
	assert.Contains(t, p, `unknown resolution "4k"`)
	for _, v := range upstreamResolutions {
		assert.Contains(t, p, v)
	}

	_, err = schema.NormalizeGenerate(map[string]any{"text": "熊猫", "style": float64(3)}, lim50)
	assert.Equal(t, "style must be a string, got the number 3", oneProblem(t, err))
}

func TestNormalizeGenerateUnknownArgument(t *testing.T) {
	_, err := schema.NormalizeGenerate(map[string]any{"text": "熊猫", "prompt": "熊猫"}, lim50)
	assert.Equal(t,
		`unknown argument "prompt"; allowed arguments are text, style, resolution, num, wait, wait_seconds, force_new, preview`,
		oneProblem(t, err))

	// Several unknown arguments: one problem each, in a stable order.
	_, err = schema.NormalizeGenerate(map[string]any{"text": "熊猫", "size": "x", "count": 2, "prompt": "p"}, lim50)
	p := problems(t, err)
	require.Len(t, p, 3)
	assert.Contains(t, p[0], `"count"`)
	assert.Contains(t, p[1], `"prompt"`)
	assert.Contains(t, p[2], `"size"`)
}

func TestNormalizeGenerateReportsEveryProblem(t *testing.T) {
	_, err := schema.NormalizeGenerate(map[string]any{
		"prompt":       "熊猫",
		"style":        "neon",
		"resolution":   "4k",
		"num":          float64(7),
		"wait":         "yes",
		"wait_seconds": float64(-5),
	}, lim50)
	p := problems(t, err)
	require.Len(t, p, 7, "problems: %q", p)
	want := []string{
		`unknown argument "prompt"`,
		"text is required",
		`unknown style "neon"`,
		`unknown resolution "4k"`,
		"num must be between 1 and 6, got 7",
		"wait must be true or false",
		"wait_seconds must be 0 or more, got -5",
	}
	for i, w := range want {
		assert.Contains(t, p[i], w)
	}
	// The error text carries them all, for a client that shows only Error().
	msg := err.Error()
	assert.True(t, strings.HasPrefix(msg, "invalid arguments: "), msg)
	for _, w := range want {
		assert.Contains(t, msg, w)
	}
}

func TestNormalizeCheck(t *testing.T) {
	c, err := schema.NormalizeCheck(map[string]any{"task_id": "  abc123  "}, lim50)
	require.NoError(t, err)
	assert.Equal(t, schema.Check{TaskID: "abc123", WaitSeconds: 0}, c, "trimmed, default wait 0")

	c, err = schema.NormalizeCheck(map[string]any{"task_id": "abc", "wait_seconds": float64(20)}, lim50)
	require.NoError(t, err)
	assert.Equal(t, 20, c.WaitSeconds)

	c, err = schema.NormalizeCheck(map[string]any{"task_id": "abc", "wait_seconds": float64(999)}, lim50)
	require.NoError(t, err)
	assert.Equal(t, 50, c.WaitSeconds, "capped")

	c, err = schema.NormalizeCheck(map[string]any{"task_id": strings.Repeat("a", 128)}, lim50)
	require.NoError(t, err)
	assert.Len(t, c.TaskID, 128)

	bad := []struct {
		name string
		args map[string]any
		want string
	}{
		{"missing", map[string]any{}, "task_id is required: pass the task_id that generate_image returned"},
		{"nil map", nil, "task_id is required"},
		{"null", map[string]any{"task_id": nil}, "task_id is required"},
		{"empty", map[string]any{"task_id": ""}, "task_id is empty; pass the task_id that generate_image returned"},
		{"blank", map[string]any{"task_id": " \t "}, "task_id is empty"},
		{"number", map[string]any{"task_id": float64(12)}, "task_id must be a string, got the number 12"},
		{"too long", map[string]any{"task_id": strings.Repeat("a", 129)}, "does not look like a task id"},
		{"control", map[string]any{"task_id": "abc\ndef"}, "does not look like a task id"},
		{"NUL", map[string]any{"task_id": "abc\x00"}, "does not look like a task id"},
		{"path", map[string]any{"task_id": "../../etc/passwd"}, "does not look like a task id"},
		{"backslash", map[string]any{"task_id": `a\\b`}, "does not look like a task id"},
		{"invalid UTF-8", map[string]any{"task_id": "abc\xff"}, "does not look like a task id"},
		{"negative wait", map[string]any{"task_id": "abc", "wait_seconds": float64(-1)}, "wait_seconds must be 0 or more, got -1"},
		{"unknown", map[string]any{"task_id": "abc", "taskId": "abc"}, `unknown argument "taskId"; allowed arguments are task_id, wait_seconds`},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			_, err := schema.NormalizeCheck(b.args, lim50)
			assert.Contains(t, oneProblem(t, err), b.want)
		})
	}

	// An overlong id is echoed truncated, not whole.
	_, err = schema.NormalizeCheck(map[string]any{"task_id": strings.Repeat("x", 1000)}, lim50)
	assert.Less(t, len(oneProblem(t, err)), 200)

	_, err = schema.NormalizeCheck(map[string]any{"id": "abc", "wait_seconds": "soon"}, lim50)
	assert.Len(t, problems(t, err), 3, "unknown argument, missing task_id and bad wait_seconds together")
}

func TestNormalizeNone(t *testing.T) {
	assert.NoError(t, schema.NormalizeNone(nil))
	assert.NoError(t, schema.NormalizeNone(map[string]any{}))

	err := schema.NormalizeNone(map[string]any{"style": "古风"})
	assert.Equal(t, `unknown argument "style"; this tool takes no arguments`, oneProblem(t, err))

	err = schema.NormalizeNone(map[string]any{"b": 1, "a": 2})
	assert.Equal(t, []string{
		`unknown argument "a"; this tool takes no arguments`,
		`unknown argument "b"; this tool takes no arguments`,
	}, problems(t, err))
}

func BenchmarkNormalizeGenerate(b *testing.B) {
	args := map[string]any{
		"text":         "竹林里的熊猫，晨雾，远处的山峦若隐若现",
		"style":        "cyberpunk",
		"resolution":   "portrait",
		"num":          float64(2),
		"wait":         true,
		"wait_seconds": float64(30),
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := schema.NormalizeGenerate(args, lim50); err != nil {
			b.Fatal(err)
		}
	}
}

// TestInjectedArgumentsAreSetAside: an argument of InjectedArgs is not the
// model's: it is ignored and reported in Ignored; a near miss of it, or of
// a real argument, is refused.
func TestInjectedArgumentsAreSetAside(t *testing.T) {
	g, err := schema.NormalizeGenerate(map[string]any{"text": "熊猫", "wait_for_previous": true}, schema.Limits{})
	require.NoError(t, err)
	assert.Equal(t, []string{"wait_for_previous"}, g.Ignored)
	c, err := schema.NormalizeCheck(map[string]any{"task_id": "sbx1", "wait_for_previous": "yes"}, schema.Limits{})
	require.NoError(t, err)
	assert.Equal(t, []string{"wait_for_previous"}, c.Ignored)
	assert.NoError(t, schema.NormalizeNone(map[string]any{"wait_for_previous": false}))

	for _, bad := range []string{"wait_for_previouss", "wait_second", "Text"} {
		_, err := schema.NormalizeGenerate(map[string]any{"text": "熊猫", bad: 1}, schema.Limits{})
		require.Error(t, err, bad)
		assert.Contains(t, err.Error(), `unknown argument "`+bad+`"`)
	}
}
