package tools_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"aipaint-mcp/client"
	"aipaint-mcp/paint"
	"aipaint-mcp/schema"
	"aipaint-mcp/tools"
)

// Explain says what the tools answer: the terminal's generate reads as an
// MCP client would.
func TestExplainSaysWhatTheToolAnswers(t *testing.T) {
	h := newHarness(t, unconfigured())
	args := map[string]any{"text": "猫", "num": 9}
	res := h.call(t, "generate_image", args, nil)
	require.True(t, res.IsError)
	_, err := schema.NormalizeGenerate(args, schema.Limits{})
	require.Error(t, err)
	assert.Equal(t, text(res), tools.Explain(tools.Options{}, err))
	assert.Contains(t, text(res), "num must be between 1 and 6")

	args = map[string]any{"text": "猫"}
	res = h.call(t, "generate_image", args, nil)
	require.True(t, res.IsError)
	_, err = h.svc.Generate(t.Context(), client.Request{Text: "猫"}, paint.CallOptions{})
	require.Error(t, err)
	assert.Equal(t, text(res), tools.Explain(tools.Options{Paint: h.svc}, err))
	assert.Contains(t, text(res), "AIPAINT_SUBMIT_URL")
}
