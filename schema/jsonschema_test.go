package schema_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"aipaint-mcp/schema"
)

// Run `go test ./schema/ -run TestGolden -update` after a deliberate schema
// change, and review the diff of wire/*.json: it is what the model sees, and
// what the server embeds.
var update = flag.Bool("update", false, "rewrite the golden JSON schemas in wire/")

func TestGoldenSchemas(t *testing.T) {
	// From reflection, not from the functions, which serve wire/ as this
	// test binary embedded it: -update must not write what a schema was
	// before the change. TestSchemasAreReflectionsForAnyLimits checks that
	// the functions serve the same.
	reflected := schema.Reflected(schema.WireLimits)
	for name, raw := range reflected {
		t.Run(name, func(t *testing.T) {
			var pretty bytes.Buffer
			require.NoError(t, json.Indent(&pretty, raw, "", "  "))
			pretty.WriteByte('\n')
			path := filepath.Join("wire", name)
			if *update {
				require.NoError(t, os.WriteFile(path, pretty.Bytes(), 0o644))
				return
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "missing golden file: run go test ./schema/ -update")
			assert.Equal(t, string(want), pretty.String(),
				"%s is out of date: if the change is intended, run go test ./schema/ -update and review the diff", path)
		})
	}
	// Every file in wire/ is a schema reflection gives: none left over from
	// a renamed tool.
	files, err := filepath.Glob(filepath.Join("wire", "*.json"))
	require.NoError(t, err)
	for _, f := range files {
		assert.Contains(t, reflected, filepath.Base(f), "%s is no schema's golden file: delete it", f)
	}
}

// object decodes a schema into generic JSON.
func object(t *testing.T, raw json.RawMessage) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(raw, &m))
	return m
}

func prop(t *testing.T, s map[string]any, name string) map[string]any {
	t.Helper()
	props, ok := s["properties"].(map[string]any)
	require.True(t, ok, "no properties")
	p, ok := props[name].(map[string]any)
	require.True(t, ok, "no property %s", name)
	return p
}

func strs(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

// MCP clients differ in what they resolve: every schema must be one
// self-contained object with no references or meta keys.
func assertSelfContained(t *testing.T, name string, v any) {
	t.Helper()
	switch x := v.(type) {
	case map[string]any:
		for k, sub := range x {
			switch k {
			case "$schema", "$id", "$defs", "$ref", "definitions":
				t.Errorf("%s: has %q", name, k)
			}
			assertSelfContained(t, name, sub)
		}
	case []any:
		for _, sub := range x {
			assertSelfContained(t, name, sub)
		}
	}
}

func TestSchemasSelfContained(t *testing.T) {
	for name, raw := range map[string]json.RawMessage{
		"generate": schema.GenerateInputSchema(lim50),
		"check":    schema.CheckInputSchema(lim50),
		"gallery":  schema.GalleryInputSchema(),
		"none":     schema.NoInputSchema(),
		"task":     schema.TaskOutputSchema(),
		"styles":   schema.StylesOutputSchema(),
	} {
		s := object(t, raw)
		assertSelfContained(t, name, s)
		assert.Equal(t, "object", s["type"], name)
		assert.Equal(t, false, s["additionalProperties"], name)
		assert.IsType(t, map[string]any{}, s["properties"], "%s: properties must be an object, even when empty", name)
	}
}

func TestGenerateInputSchemaFromTables(t *testing.T) {
	s := object(t, schema.GenerateInputSchema(lim50))
	assert.Equal(t, []any{"text"}, s["required"])

	style := prop(t, s, "style")
	assert.Equal(t, schema.StyleNames(), strs(style["enum"]))
	assert.Len(t, style["enum"], 17)
	assert.Equal(t, schema.DefaultStyle().Name, style["default"])

	res := prop(t, s, "resolution")
	assert.Equal(t, schema.ResolutionValues(), strs(res["enum"]))
	assert.Len(t, res["enum"], 3)
	assert.Equal(t, schema.DefaultResolution().Value, res["default"])

	// Limits written in struct tags must agree with the constants that
	// normalisation enforces.
	text := prop(t, s, "text")
	assert.Equal(t, "string", text["type"])
	assert.EqualValues(t, schema.MaxTextChars, text["maxLength"])
	assert.EqualValues(t, 100, text["maxLength"])
	assert.EqualValues(t, 1, text["minLength"])

	num := prop(t, s, "num")
	assert.Equal(t, "integer", num["type"])
	assert.EqualValues(t, schema.MinNum, num["minimum"])
	assert.EqualValues(t, schema.MaxNum, num["maximum"])
	assert.EqualValues(t, 1, num["minimum"])
	assert.EqualValues(t, 6, num["maximum"])
	assert.EqualValues(t, schema.DefaultNum, num["default"])

	wait := prop(t, s, "wait")
	assert.Equal(t, "boolean", wait["type"])
	assert.Equal(t, true, wait["default"])

	ws := prop(t, s, "wait_seconds")
	assert.Equal(t, "integer", ws["type"])
	assert.EqualValues(t, 0, ws["minimum"])
	assert.EqualValues(t, 50, ws["maximum"])
	assert.EqualValues(t, schema.DefaultWaitSeconds, ws["default"])
	assert.Contains(t, ws["description"], "Capped at 50 seconds.")

	// Every property of the struct is in the schema and nothing else.
	props := s["properties"].(map[string]any)
	assert.Len(t, props, 8)
	assert.Equal(t, "boolean", prop(t, s, "force_new")["type"])
	assert.Equal(t, "boolean", prop(t, s, "preview")["type"])
}

func TestNumMaximumFollowsLimits(t *testing.T) {
	var s map[string]any
	require.NoError(t, json.Unmarshal(schema.GenerateInputSchema(schema.Limits{MaxNum: 2}), &s))
	num := prop(t, s, "num")
	assert.EqualValues(t, 2, num["maximum"])
	assert.Contains(t, num["description"], "1-2")

	_, err := schema.NormalizeGenerate(map[string]any{"text": "猫", "num": 3}, schema.Limits{MaxNum: 2})
	require.ErrorContains(t, err, "num must be between 1 and 2, got 3")
	g, err := schema.NormalizeGenerate(map[string]any{"text": "猫", "num": 2, "force_new": true, "preview": "true"}, schema.Limits{MaxNum: 2})
	require.NoError(t, err)
	assert.True(t, g.ForceNew)
	assert.True(t, g.Preview)
	g, err = schema.NormalizeGenerate(map[string]any{"text": "猫"}, schema.Limits{Preview: true})
	require.NoError(t, err)
	assert.True(t, g.Preview, "AIPAINT_PREVIEW sets the default")
	assert.False(t, g.ForceNew)
	c, err := schema.NormalizeCheck(map[string]any{"task_id": "t1", "preview": false}, schema.Limits{Preview: true})
	require.NoError(t, err)
	assert.False(t, c.Preview, "the argument overrides the default")
	_, err = schema.NormalizeGenerate(map[string]any{"text": "猫", "force_new": "yes please"}, schema.Limits{})
	require.ErrorContains(t, err, "force_new must be true or false")
}

func TestWaitSecondsMaximumFollowsLimits(t *testing.T) {
	for _, raw := range []json.RawMessage{
		schema.GenerateInputSchema(schema.Limits{MaxWaitSeconds: 30}),
		schema.CheckInputSchema(schema.Limits{MaxWaitSeconds: 30}),
	} {
		ws := prop(t, object(t, raw), "wait_seconds")
		assert.EqualValues(t, 30, ws["maximum"])
		assert.Contains(t, ws["description"], "Capped at 30 seconds.")
		def, _ := ws["default"].(float64)
		assert.LessOrEqual(t, def, float64(30), "the default may not exceed the maximum")
	}

	// generate_image's default of 40 is above a cap of 30: the schema says 30,
	// as normalisation does.
	ws := prop(t, object(t, schema.GenerateInputSchema(schema.Limits{MaxWaitSeconds: 30})), "wait_seconds")
	assert.EqualValues(t, 30, ws["default"])
	assert.Contains(t, ws["description"], "(default 30)")
	assert.NotContains(t, ws["description"], "default 40")
	g, err := schema.NormalizeGenerate(map[string]any{"text": "熊猫"}, schema.Limits{MaxWaitSeconds: 30})
	require.NoError(t, err)
	assert.Equal(t, 30, g.WaitSeconds)

	// check_task's default of 0 is kept.
	ws = prop(t, object(t, schema.CheckInputSchema(schema.Limits{MaxWaitSeconds: 30})), "wait_seconds")
	assert.EqualValues(t, 0, ws["default"])

	// A cap at or above the default leaves the default alone.
	ws = prop(t, object(t, schema.GenerateInputSchema(schema.Limits{MaxWaitSeconds: 120})), "wait_seconds")
	assert.EqualValues(t, 120, ws["maximum"])
	assert.EqualValues(t, 40, ws["default"])

	// No cap configured: no maximum is claimed.
	ws = prop(t, object(t, schema.GenerateInputSchema(schema.Limits{})), "wait_seconds")
	assert.NotContains(t, ws, "maximum")
}

// The prose is generated from the tables, the constants and the limits: every
// argument is described, and each description states the values its schema
// and normalisation hold it to.
func TestInputDescriptionsFromTables(t *testing.T) {
	for name, raw := range map[string]json.RawMessage{
		"generate": schema.GenerateInputSchema(lim50),
		"check":    schema.CheckInputSchema(lim50),
	} {
		for k, p := range object(t, raw)["properties"].(map[string]any) {
			assert.NotEmpty(t, p.(map[string]any)["description"], "%s: %s has no description", name, k)
		}
	}
	s := object(t, schema.GenerateInputSchema(lim50))
	assert.Contains(t, prop(t, s, "text")["description"], "at most "+strconv.Itoa(schema.MaxTextChars)+" characters")
	style := prop(t, s, "style")["description"]
	assert.Contains(t, style, "one of the "+strconv.Itoa(len(schema.Styles))+" names")
	assert.Contains(t, style, "(default "+schema.DefaultStyle().Name+")")
	res := prop(t, s, "resolution")["description"]
	for _, r := range schema.Resolutions {
		assert.Contains(t, res, r.Value+" ("+r.English)
	}
	assert.Contains(t, res, schema.DefaultResolution().Value+" ("+schema.DefaultResolution().English+", default)")
	assert.Contains(t, prop(t, s, "num")["description"], strconv.Itoa(schema.MinNum)+"-"+strconv.Itoa(schema.MaxNum))
	assert.Contains(t, prop(t, s, "wait_seconds")["description"], "(default "+strconv.Itoa(schema.DefaultWaitSeconds)+")")
	assert.Contains(t, prop(t, object(t, schema.CheckInputSchema(lim50)), "wait_seconds")["description"],
		"(default "+strconv.Itoa(schema.DefaultCheckWaitSeconds)+": answer at once)")
}

// Generating a schema must not change what the next call returns (the enum
// is attached to a fresh reflection each time, not to shared state).
func TestSchemasAreStable(t *testing.T) {
	a := schema.GenerateInputSchema(schema.Limits{MaxWaitSeconds: 30})
	_ = schema.GenerateInputSchema(lim50)
	b := schema.GenerateInputSchema(schema.Limits{MaxWaitSeconds: 30})
	assert.JSONEq(t, string(a), string(b))
	assert.Equal(t, 1, bytes.Count(b, []byte("Capped at")), "the cap note is added once")
}

func TestCheckInputSchema(t *testing.T) {
	s := object(t, schema.CheckInputSchema(lim50))
	assert.Equal(t, []any{"task_id"}, s["required"])
	id := prop(t, s, "task_id")
	assert.Equal(t, "string", id["type"])
	assert.EqualValues(t, 1, id["minLength"])
	ws := prop(t, s, "wait_seconds")
	assert.EqualValues(t, 50, ws["maximum"])
	assert.EqualValues(t, schema.DefaultCheckWaitSeconds, ws["default"])
}

func TestNoInputSchema(t *testing.T) {
	assert.JSONEq(t, `{"type":"object","properties":{},"additionalProperties":false}`, string(schema.NoInputSchema()))
}

// The output schemas must accept what the code produces: check the required
// keys against a marshalled value.
func TestOutputSchemasMatchValues(t *testing.T) {
	check := func(name string, raw json.RawMessage, v any) {
		s := object(t, raw)
		b, err := json.Marshal(v)
		require.NoError(t, err)
		var got map[string]any
		require.NoError(t, json.Unmarshal(b, &got))
		props := s["properties"].(map[string]any)
		for _, k := range s["required"].([]any) {
			assert.Contains(t, got, k, "%s: required key missing from the value", name)
		}
		for k := range got {
			assert.Contains(t, props, k, "%s: value has a key the schema does not declare", name)
		}
	}
	check("styles", schema.StylesOutputSchema(), schema.ListStyles())
	check("task", schema.TaskOutputSchema(), schema.TaskResult{
		TaskID: "t1", Status: schema.StatusDone, Images: []schema.Image{{URL: "https://x/1.png", Index: 1}},
		Text: "熊猫", Style: "古风", Resolution: "1024*1024", Num: 1, TaskNo: "n", CreatedAt: "2024-01-01T00:00:00+08:00",
		WaitedSeconds: 1.5, NextStep: "", Sandbox: true,
	})

	status := prop(t, object(t, schema.TaskOutputSchema()), "status")
	assert.Equal(t, []string{string(schema.StatusPending), string(schema.StatusDone)}, strs(status["enum"]))
}

// A pending result has no images yet: it must still carry "images": [] (the
// schema requires an array), whether marshalled by value or by pointer.
func TestPendingTaskResultHasImageArray(t *testing.T) {
	r := schema.TaskResult{TaskID: "t1", Status: schema.StatusPending, NextStep: "call check_task"}
	for _, v := range []any{r, &r} {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		assert.Contains(t, string(b), `"images":[]`)
		assert.JSONEq(t,
			`{"task_id":"t1","status":"pending","images":[],"waited_seconds":0,"next_step":"call check_task","deduplicated":false,"billed_images":0}`,
			string(b))
	}
	assert.Nil(t, r.Images, "marshalling does not modify the value")
}
