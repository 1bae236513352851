package people

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Tokens of the tests: long enough, and easy to spot in a log.
const (
	tokAlice = "alice-secret-0123456789"
	tokBob   = "bob-secret-abcdefghijkl"
	tokCarol = "carol-secret-ZYXWVUTSRQ"
)

func hashOf(token string) string {
	sum := sha256.Sum256([]byte(token))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func TestParseAccepts(t *testing.T) {
	tests := []struct {
		name  string
		file  string
		want  map[string]Person // token -> person
		count int
	}{
		{"one person, no limit", "alice " + tokAlice + "\n",
			map[string]Person{tokAlice: {Name: "alice"}}, 1},
		{"no final newline", "alice " + tokAlice,
			map[string]Person{tokAlice: {Name: "alice"}}, 1},
		{"limit", "alice " + tokAlice + " 20\n",
			map[string]Person{tokAlice: {Name: "alice", Limit: new(20)}}, 1},
		{"limit 0: may not submit", "alice " + tokAlice + " 0",
			map[string]Person{tokAlice: {Name: "alice", Limit: new(0)}}, 1},
		{"limit with leading zeros", "alice " + tokAlice + " 007",
			map[string]Person{tokAlice: {Name: "alice", Limit: new(7)}}, 1},
		{"limit at the maximum", "alice " + tokAlice + " 1000000",
			map[string]Person{tokAlice: {Name: "alice", Limit: new(MaxLimit)}}, 1},
		{"BOM", "\ufeffalice " + tokAlice + "\n",
			map[string]Person{tokAlice: {Name: "alice"}}, 1},
		{"CRLF", "# team\r\nalice " + tokAlice + " 5\r\nbob " + tokBob + "\r\n\r\n",
			map[string]Person{tokAlice: {Name: "alice", Limit: new(5)}, tokBob: {Name: "bob"}}, 2},
		{"comments and blank lines", "# who may draw\n\n   # indented comment\n\t#tabbed comment\n  \t \nalice " + tokAlice + "\n#bob " + tokBob + "\n",
			map[string]Person{tokAlice: {Name: "alice"}, tokBob: {}}, 1},
		{"tabs and several spaces", "\talice\t\t" + tokAlice + " \t 3 \t\nbob   " + tokBob + "\t\n",
			map[string]Person{tokAlice: {Name: "alice", Limit: new(3)}, tokBob: {Name: "bob"}}, 2},
		{"hash form", "alice " + hashOf(tokAlice) + " 2\nbob " + tokBob,
			map[string]Person{tokAlice: {Name: "alice", Limit: new(2)}, tokBob: {Name: "bob"}}, 2},
		{"name characters", "Ann.Lee_2-b " + tokAlice + "\n张三 " + tokBob,
			map[string]Person{tokAlice: {Name: "Ann.Lee_2-b"}, tokBob: {Name: "张三"}}, 2},
		{"name of 64 characters", strings.Repeat("n", 64) + " " + tokAlice,
			map[string]Person{tokAlice: {Name: strings.Repeat("n", 64)}}, 1},
		{"name of 64 CJK characters", strings.Repeat("画", 64) + " " + tokAlice,
			map[string]Person{tokAlice: {Name: strings.Repeat("画", 64)}}, 1},
		{"token of exactly 16 characters", "alice 0123456789abcdef",
			map[string]Person{"0123456789abcdef": {Name: "alice"}}, 1},
		{"token of 16 non-ASCII characters", "alice 令牌令牌令牌令牌令牌令牌令牌令牌",
			map[string]Person{"令牌令牌令牌令牌令牌令牌令牌令牌": {Name: "alice"}}, 1},
		{"token with punctuation", "alice !\"#$%&'()*+,-./:;<=>?@[]^_`{|}~",
			map[string]Person{"!\"#$%&'()*+,-./:;<=>?@[]^_`{|}~": {Name: "alice"}}, 1},
		{"email and sub names", "ann+paint@corp.example " + tokAlice + "\nauth0|5f3a.b " + tokBob,
			map[string]Person{tokAlice: {Name: "ann+paint@corp.example"}, tokBob: {Name: "auth0|5f3a.b"}}, 2},
		{"no token: signs in", "ann@corp.example - 4\nbob -\ncarol " + tokCarol,
			map[string]Person{tokCarol: {Name: "carol"}, "-": {}}, 3},
		{"empty file", "", nil, 0},
		{"only comments", "# nobody yet\n", nil, 0},
		{"only a BOM", "\ufeff", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse([]byte(tt.file))
			require.NoError(t, err)
			assert.Equal(t, tt.count, s.Len())
			for token, want := range tt.want {
				got, ok := s.Lookup(token)
				assert.Equal(t, want.Name != "", ok, "lookup of %q", token)
				assert.Equal(t, want, got)
			}
		})
	}
}

func TestParseRefuses(t *testing.T) {
	const secret = "SECRET-marker-7f3a9c"
	ok := "alice " + tokAlice + "\n"
	tests := []struct {
		name string
		file string
		line int
		why  string // in the error
	}{
		{"name only", ok + "bob\n", 2, "no token"},
		{"name only, with spaces", ok + "  bob \t\n", 2, "no token"},
		{"extra field", "bob " + secret + "xyz 5 6\n", 1, "too many fields"},
		{"comment after the fields", "bob " + secret + "xyz 5 # five a day\n", 1, "too many fields"},
		{"name too long", strings.Repeat("n", 65) + " " + secret + "xyz", 1, "longer than 64"},
		{"name with a slash", "a/b " + secret + "xyz", 1, "may only have letters"},
		{"name with a colon", "a:b " + secret + "xyz", 1, "may only have letters"},
		{"name with a quote", "bob\"@example.com " + secret + "xyz", 1, "may only have letters"},
		{"name with a control character", "bo\x01b " + secret + "xyz", 1, "may only have letters"},
		{"name with a no-break space", "bo\u00a0b " + secret + "xyz", 1, "may only have letters"},
		{"duplicate name", ok + "bob " + tokBob + "\nalice " + secret + "xyz\n", 3, "already used on line 1"},
		{"duplicate name, other case", ok + "ALICE " + secret + "xyz\n", 2, "already used on line 1"},
		{"duplicate name without token", "ann@corp.example -\nAnn@Corp.Example - 3\n", 2, "already used on line 1"},
		{"two dashes", "bob --\n", 1, "at least 16 printable"},
		{"duplicate token", ok + "bob " + tokAlice + "\n", 2, "already used on line 1"},
		{"duplicate token, once hashed", ok + "bob " + hashOf(tokAlice) + "\n", 2, "already used on line 1"},
		{"duplicate token, hashed first", "bob " + hashOf(tokAlice) + "\n" + ok, 2, "already used on line 1"},
		{"short token", "bob " + secret[:15], 1, "at least 16 printable"},
		{"short non-ASCII token", "bob 令牌令牌令牌令牌令牌令牌令牌令", 1, "at least 16 printable"},
		{"token with a control character", "bob " + secret + "\x7f", 1, "at least 16 printable"},
		{"token with a no-break space", "bob " + secret + "\u00a0xyz", 1, "at least 16 printable"},
		{"token with a vertical tab", "bob " + secret + "\vxyz", 1, "at least 16 printable"},
		{"token with a lone CR", "bob " + secret + "\rxyz\n", 1, "at least 16 printable"},
		{"hash form, uppercase hex", "bob " + strings.ToUpper(hashOf(secret)[:7]) + strings.ToUpper(hashOf(secret)[7:]), 1, "64 lowercase hex"},
		{"hash form, uppercase digits", "bob sha256:" + strings.ToUpper(hashOf(secret)[7:]), 1, "64 lowercase hex"},
		{"hash form, uppercase prefix", "bob SHA256:" + hashOf(secret)[7:], 1, "64 lowercase hex"},
		{"hash form, too short", "bob " + hashOf(secret)[:70], 1, "64 lowercase hex"},
		{"hash form, too long", "bob " + hashOf(secret) + "0", 1, "64 lowercase hex"},
		{"hash form, not hex", "bob sha256:" + strings.Repeat("g", 64), 1, "64 lowercase hex"},
		{"hash form, empty", "bob sha256:", 1, "64 lowercase hex"},
		{"limit negative", "bob " + secret + "xyz -1", 1, "whole number"},
		{"limit with a plus", "bob " + secret + "xyz +1", 1, "whole number"},
		{"limit not a number", "bob " + secret + "xyz ten", 1, "whole number"},
		{"limit not whole", "bob " + secret + "xyz 2.5", 1, "whole number"},
		{"limit with an exponent", "bob " + secret + "xyz 1e3", 1, "whole number"},
		{"limit above the maximum", "bob " + secret + "xyz 1000001", 1, "whole number"},
		{"limit huge", "bob " + secret + "xyz 99999999999999999999999999", 1, "whole number"},
		{"limit in other digits", "bob " + secret + "xyz ５", 1, "whole number"},
		{"invalid UTF-8", ok + "bob " + secret + "\xff\xfe\n", 2, "not valid UTF-8"},
		{"a BOM in the middle", ok + "\ufeffbob " + secret + "xyz", 2, "may only have letters"},
		{"the line counts CRLF lines", "# a\r\n\r\n" + ok + "bob " + secret[:10] + "\r\n", 4, "at least 16"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse([]byte(tt.file))
			require.Error(t, err)
			assert.Nil(t, s)
			var le *LineError
			require.True(t, errors.As(err, &le), "%T", err)
			assert.Equal(t, tt.line, le.Line)
			assert.Contains(t, err.Error(), tt.why)
			assert.True(t, strings.HasPrefix(err.Error(), "line "), err.Error())
			for _, never := range []string{secret[:10], tokAlice, tokBob, "bob", "alice", hashOf(tokAlice)[7:20], hashOf(secret)[7:20]} {
				assert.NotContains(t, strings.ToLower(err.Error()), strings.ToLower(never), "an error quotes no field")
			}
		})
	}
}

func TestLookup(t *testing.T) {
	s, err := Parse([]byte("alice " + tokAlice + " 3\nbob " + hashOf(tokBob) + "\n"))
	require.NoError(t, err)
	tests := []struct {
		token string
		want  Person
		ok    bool
	}{
		{tokAlice, Person{Name: "alice", Limit: new(3)}, true},
		{tokBob, Person{Name: "bob"}, true},
		{"", Person{}, false},
		{tokCarol, Person{}, false},
		{tokAlice[:len(tokAlice)-1], Person{}, false},
		{tokAlice + "x", Person{}, false},
		{strings.ToUpper(tokAlice), Person{}, false},
		{" " + tokAlice, Person{}, false},
		{hashOf(tokBob), Person{}, false}, // the hash is not the token
		{hashOf(tokAlice), Person{}, false},
	}
	for _, tt := range tests {
		got, ok := s.Lookup(tt.token)
		assert.Equal(t, tt.ok, ok, tt.token)
		assert.Equal(t, tt.want, got, tt.token)
	}

	var none *Set
	_, ok := none.Lookup(tokAlice)
	assert.False(t, ok, "a nil Set knows nobody")
	assert.Zero(t, none.Len())
	assert.Equal(t, []Person{{Name: "alice", Limit: new(3)}, {Name: "bob"}}, s.People())
}

// Named finds a person by name whatever its case, with or without a
// token; Lookup never finds a line without one, whatever is sent.
func TestNamed(t *testing.T) {
	s, err := Parse([]byte("Ann@Corp.Example - 4\nbob " + tokBob + " 2\nsub-123 -\n"))
	require.NoError(t, err)
	for name, want := range map[string]Person{
		"ann@corp.example": {Name: "Ann@Corp.Example", Limit: new(4)},
		"ANN@CORP.EXAMPLE": {Name: "Ann@Corp.Example", Limit: new(4)},
		"Bob":              {Name: "bob", Limit: new(2)},
		"sub-123":          {Name: "sub-123"},
		"":                 {},
		"carol":            {},
		"ann":              {},
	} {
		got, ok := s.Named(name)
		assert.Equal(t, want.Name != "", ok, name)
		assert.Equal(t, want, got, name)
	}
	for _, tok := range []string{"-", "", "Ann@Corp.Example", "sub-123", "--------------------"} {
		_, ok := s.Lookup(tok)
		assert.False(t, ok, "%q", tok)
	}
	var none *Set
	_, ok := none.Named("bob")
	assert.False(t, ok)
	assert.Equal(t, 2, s.SignInOnly(), "the lines without a token")
	assert.Zero(t, none.SignInOnly())

	p, _ := s.Named("ann@corp.example")
	*p.Limit = 99
	p, _ = s.Named("ann@corp.example")
	assert.Equal(t, 4, *p.Limit, "the Set keeps its limits")
}

// A short token listed by its hash never matches: the hash form hides the
// token, not the rule.
func TestLookupShortTokenByHash(t *testing.T) {
	for _, short := range []string{"", "pw", "fifteen-chars!!"} {
		s, err := Parse([]byte("bob " + hashOf(short)))
		require.NoError(t, err)
		_, ok := s.Lookup(short)
		assert.False(t, ok, "%q", short)
	}
}

func TestContext(t *testing.T) {
	p, ok := FromContext(context.Background())
	assert.False(t, ok)
	assert.Zero(t, p)
	want := Person{Name: "alice", Limit: new(2)}
	p, ok = FromContext(NewContext(context.Background(), want))
	assert.True(t, ok)
	assert.Equal(t, want, p)
	p, ok = FromContext(NewContext(context.Background(), Person{}))
	assert.True(t, ok, "the zero Person, put there on purpose, is found")
	assert.Zero(t, p)
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tokens")
	require.NoError(t, os.WriteFile(path, []byte("alice "+tokAlice+"\n"), 0o600))
	s, err := Load(path)
	require.NoError(t, err)
	assert.Equal(t, 1, s.Len())

	require.NoError(t, os.WriteFile(path, []byte("# ok\nalice "+tokAlice+" lots\n"), 0o600))
	_, err = Load(path)
	require.Error(t, err)
	assert.Contains(t, err.Error(), path)
	assert.Contains(t, err.Error(), "line 2:")
	assert.NotContains(t, err.Error(), tokAlice)

	_, err = Load(filepath.Join(dir, "missing"))
	assert.ErrorIs(t, err, os.ErrNotExist)

	_, err = Load(dir)
	assert.ErrorContains(t, err, "not a regular file")

	big := filepath.Join(dir, "big")
	line := "# " + strings.Repeat("x", 1000) + "\n"
	require.NoError(t, os.WriteFile(big, []byte(strings.Repeat(line, MaxFileBytes/len(line)+1)), 0o600))
	_, err = Load(big)
	assert.ErrorContains(t, err, "larger than 4 MiB")
}

// FuzzParse: Parse never panics; what it accepts it can look up; and its
// errors never carry a field of the input long enough to be a token.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"alice " + tokAlice + " 3\n",
		"\ufeff# c\r\nbob\t" + hashOf(tokBob) + "\r\n",
		"bob " + tokBob + " 1 2\n",
		"a/b " + tokBob,
		"bob sha256:" + strings.Repeat("A", 64),
		"alice " + tokAlice + "\nALICE " + tokBob,
		"x \xff\xfe\xfd",
		"",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data)
		if err != nil {
			msg := err.Error()
			for _, line := range strings.Split(string(data), "\n") {
				for _, field := range strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == '\t' }) {
					if len(field) >= MinTokenLength && strings.Contains(msg, field) {
						t.Fatalf("the error %q quotes a field of the input", msg)
					}
				}
			}
			return
		}
		for _, p := range s.People() {
			assert.NotEmpty(t, p.Name)
			assert.True(t, p.Limit == nil || (*p.Limit >= 0 && *p.Limit <= MaxLimit), "a limit is from 0 to MaxLimit, or none")
		}
	})
}

// The example in both READMEs is a valid tokens file.
func TestREADMEExample(t *testing.T) {
	for _, file := range []string{"../README.md", "../README.zh-CN.md"} {
		raw, err := os.ReadFile(file)
		require.NoError(t, err)
		_, rest, ok := strings.Cut(string(raw), "AIPAINT_HTTP_TOKENS_FILE`")
		require.True(t, ok, file)
		for !strings.HasPrefix(strings.TrimSpace(rest), "```text") {
			_, rest, ok = strings.Cut(rest, "\n")
			require.True(t, ok, "%s: no example", file)
		}
		_, rest, _ = strings.Cut(rest, "```text\n")
		example, _, ok := strings.Cut(rest, "```")
		require.True(t, ok, file)
		s, err := Parse([]byte(example))
		require.NoError(t, err, file)
		assert.Equal(t, []Person{{Name: "alice"}, {Name: "bob", Limit: new(20)}, {Name: "intern", Limit: new(0)}}, s.People(), file)
		p, ok := s.Lookup("Rc4uF7jD2sG9kH1mJ5nV")
		assert.True(t, ok, "%s: bob's hash is of his token", file)
		assert.Equal(t, "bob", p.Name)
	}
}

// The sign-in example of both READMEs is a valid tokens file: two people
// who only sign in (found by Named, never by Lookup) and a script's token.
func TestREADMESignInExample(t *testing.T) {
	for _, file := range []string{"../README.md", "../README.zh-CN.md"} {
		raw, err := os.ReadFile(file)
		require.NoError(t, err)
		_, rest, ok := strings.Cut(string(raw), "ann@corp.example    -")
		require.True(t, ok, "%s: no sign-in example", file)
		example, _, ok := strings.Cut("ann@corp.example    -"+rest, "```")
		require.True(t, ok, file)
		s, err := Parse([]byte(example))
		require.NoError(t, err, file)
		assert.Equal(t, []Person{{Name: "ann@corp.example", Limit: new(50)}, {Name: "bob@corp.example", Limit: new(0)}, {Name: "ci-nightly", Limit: new(200)}}, s.People(), file)
		p, ok := s.Named("Ann@Corp.Example")
		assert.True(t, ok, file)
		assert.Equal(t, "ann@corp.example", p.Name)
		_, ok = s.Lookup("-")
		assert.False(t, ok)
		p, ok = s.Lookup("Yh3nB8qW1eR6tU0iO5pZ")
		assert.True(t, ok, file)
		assert.Equal(t, "ci-nightly", p.Name)
	}
}

// A Set stays as read whatever its callers do with the limits it returns.
func TestSetKeepsItsLimits(t *testing.T) {
	s, err := Parse([]byte("alice " + tokAlice + " 3\n"))
	require.NoError(t, err)
	p, ok := s.Lookup(tokAlice)
	require.True(t, ok)
	*p.Limit = 1000
	*s.People()[0].Limit = 2000
	again, _ := s.Lookup(tokAlice)
	assert.Equal(t, 3, *again.Limit)
	assert.Equal(t, 3, *s.People()[0].Limit)
}
