package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestVersionLine(t *testing.T) {
	raw, err := os.ReadFile("VERSION")
	require.NoError(t, err)
	want := strings.TrimSpace(string(raw))
	assert.Regexp(t, `^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$`, want, "VERSION holds a semantic version")

	// A plain go build: the version comes from the embedded VERSION file.
	line := versionLine()
	assert.Regexp(t, `^aipaint-mcp `+regexp.QuoteMeta(want)+`(-dirty)? \([^,()]+, [^,()]+\)$`, line)

	// A dist build: the stamped values win.
	version, commit, commitDate = "9.8.7-dirty", "abc1234", "2026-01-02T03:04:05Z"
	t.Cleanup(func() { version, commit, commitDate = "", "", "" })
	assert.Equal(t, "aipaint-mcp 9.8.7-dirty (abc1234, 2026-01-02T03:04:05Z)", versionLine())
	assert.Equal(t, "9.8.7-dirty", versionString())

	code, out, _ := runMain([]string{"--version"}, nil)
	assert.Equal(t, 0, code)
	assert.Equal(t, "aipaint-mcp 9.8.7-dirty (abc1234, 2026-01-02T03:04:05Z)\n", out)
}
