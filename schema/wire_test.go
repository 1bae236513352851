package schema_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"aipaint-mcp/config"
	"aipaint-mcp/schema"
)

// The schemas served at start come from wire/; they must be the bytes
// reflection gives. `go test ./schema/ -update` rewrites them too.
func TestWireSchemas(t *testing.T) {
	for name, raw := range schema.Reflected(schema.WireLimits) {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("wire", name)
			if *update {
				require.NoError(t, os.WriteFile(path, raw, 0o644))
				return
			}
			got, err := os.ReadFile(path)
			require.NoError(t, err, "missing: run go test ./schema/ -update")
			assert.Equal(t, string(raw), string(got),
				"%s differs from what reflection gives: run go test ./schema/ -update and review the diff of testdata/", path)
		})
	}
}

// What the functions serve, from wire/ or by reflection, is what reflection
// gives for those limits.
func TestSchemasAreReflectionsForAnyLimits(t *testing.T) {
	for _, lim := range []schema.Limits{schema.WireLimits, {MaxWaitSeconds: 50}, {MaxWaitSeconds: 50, MaxNum: 9}, {MaxWaitSeconds: 30}, {MaxWaitSeconds: 50, MaxNum: 4}, {}} {
		want := schema.Reflected(lim)
		assert.Equal(t, string(want["generate_input.json"]), string(schema.GenerateInputSchema(lim)), "%+v", lim)
		assert.Equal(t, string(want["check_input.json"]), string(schema.CheckInputSchema(lim)), "%+v", lim)
	}
	want := schema.Reflected(schema.WireLimits)
	assert.Equal(t, string(want["none_input.json"]), string(schema.NoInputSchema()))
	assert.Equal(t, string(want["task_output.json"]), string(schema.TaskOutputSchema()))
	assert.Equal(t, string(want["styles_output.json"]), string(schema.StylesOutputSchema()))
}

// A desktop entry sets no limits: its start must be served from wire/.
func TestWireLimitsAreTheDefaults(t *testing.T) {
	cfg, _ := config.FromEnv(func(string) string { return "" })
	lim := schema.Limits{MaxWaitSeconds: cfg.MaxWaitSeconds, MaxNum: cfg.MaxImagesPerCall}
	assert.True(t, schema.WireFits(lim), "wire/ was made for %+v, the defaults are %+v: change wireLimits and run go test ./schema/ -update", schema.WireLimits, lim)
}
