package people

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"aipaint-mcp/config"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The counts the package comment tells are the rules' constants.
func TestPackageCommentTellsTheRules(t *testing.T) {
	src, err := os.ReadFile("people.go")
	require.NoError(t, err)
	head, _, ok := strings.Cut(string(src), "\npackage people")
	require.True(t, ok)
	var lines []string
	for _, l := range strings.Split(head, "\n") {
		lines = append(lines, strings.TrimSpace(strings.TrimPrefix(l, "//")))
	}
	doc := strings.Join(strings.Fields(strings.Join(lines, " ")), " ")
	for _, want := range []string{
		fmt.Sprintf("at most %d characters", MaxNameLength),
		fmt.Sprintf("at least %d printable characters", MinTokenLength),
		fmt.Sprintf("%q and the %d lowercase hex digits", hashPrefix, hashDigits),
		fmt.Sprintf("from 0 (may not submit) to %d;", MaxLimit),
	} {
		assert.Contains(t, doc, want)
	}
}

// The errors tell the counts of the rules they enforce.
func TestErrorsTellTheCounts(t *testing.T) {
	for line, want := range map[string]string{
		strings.Repeat("n", MaxNameLength+1) + " " + tokAlice:   fmt.Sprintf("longer than %d characters", MaxNameLength),
		"bob " + tokBob[:MinTokenLength-1]:                      fmt.Sprintf("at least %d printable characters", MinTokenLength),
		"bob " + hashPrefix + strings.Repeat("a", hashDigits-1): fmt.Sprintf("%s and %d lowercase hex digits", hashPrefix, hashDigits),
		"bob " + tokBob + " " + strconv.Itoa(MaxLimit+1):        fmt.Sprintf("from 0 to %d", MaxLimit),
	} {
		_, err := Parse([]byte(line))
		require.Error(t, err, line)
		assert.Contains(t, err.Error(), want)
	}
}

// A person's limit has the bound of the account's (AIPAINT_DAILY_IMAGE_LIMIT).
func TestMaxLimitIsTheAccountsBound(t *testing.T) {
	limit := func(n int) error {
		_, err := config.FromEnv(func(name string) string {
			if name == config.DailyImageLimit {
				return strconv.Itoa(n)
			}
			return ""
		})
		return err
	}
	assert.NoError(t, limit(MaxLimit))
	err := limit(MaxLimit + 1)
	require.Error(t, err)
	assert.Contains(t, err.Error(), config.DailyImageLimit)
}
