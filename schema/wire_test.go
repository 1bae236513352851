package schema_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"aipaint-mcp/config"
	"aipaint-mcp/schema"
)

// compact is a schema without the indentation of its golden file.
func compact(t *testing.T, raw []byte) string {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, json.Compact(&b, raw))
	return b.String()
}

// What the functions serve, from wire/ or by reflection, is what reflection
// gives for those limits.
func TestSchemasAreReflectionsForAnyLimits(t *testing.T) {
	for _, lim := range []schema.Limits{schema.WireLimits, {MaxWaitSeconds: 50}, {MaxWaitSeconds: 50, MaxNum: 9}, {MaxWaitSeconds: 30}, {MaxWaitSeconds: 50, MaxNum: 4}, {}} {
		want := schema.Reflected(lim)
		assert.Equal(t, string(want["generate_input.json"]), compact(t, schema.GenerateInputSchema(lim)), "%+v", lim)
		assert.Equal(t, string(want["check_input.json"]), compact(t, schema.CheckInputSchema(lim)), "%+v", lim)
	}
	want := schema.Reflected(schema.WireLimits)
	assert.Equal(t, string(want["gallery_input.json"]), compact(t, schema.GalleryInputSchema()))
	assert.Equal(t, string(want["none_input.json"]), compact(t, schema.NoInputSchema()))
	assert.Equal(t, string(want["task_output.json"]), compact(t, schema.TaskOutputSchema()))
	assert.Equal(t, string(want["styles_output.json"]), compact(t, schema.StylesOutputSchema()))
}

// A desktop entry sets no limits: its start must be served from wire/.
func TestWireLimitsAreTheDefaults(t *testing.T) {
	cfg, _ := config.FromEnv(func(string) string { return "" })
	lim := schema.Limits{MaxWaitSeconds: cfg.MaxWaitSeconds, MaxNum: cfg.MaxImagesPerCall}
	assert.True(t, schema.WireFits(lim), "wire/ was made for %+v, the defaults are %+v: change wireLimits and run go test ./schema/ -update", schema.WireLimits, lim)
}
