// Package people reads the tokens file of a team server
// (AIPAINT_HTTP_TOKENS_FILE): who may call it, by bearer token, and how many
// images a day each of them may draw.
//
// The file is UTF-8 text (a leading BOM is ignored, LF or CRLF line ends).
// Blank lines and lines whose first non-space character is # are ignored.
// Every other line is
//
//	NAME TOKEN [LIMIT]
//
// with fields separated by spaces or tabs. NAME: letters, digits, '.', '_',
// '-', '@', '+' and '|' (an email address, or the sub of a person who signs
// in with the identity provider), at most 64 characters, unique
// (case-insensitively). TOKEN: at least 16 printable characters without
// spaces, or "sha256:" and the 64 lowercase hex digits of the SHA-256 of
// the token's UTF-8 bytes, unique; or "-": no token, the person signs in
// with the identity provider (AIPAINT_OAUTH_ISSUER) and is found by Named.
// LIMIT: images a day for that person, a whole number from 0 (may not
// submit) to 1000000; absent, no personal limit.
//
// Errors name the line, never a field: a token pasted into the wrong column
// must not reach a log.
package people

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Person is who asks. The zero Person is the single user of a desktop, or of
// one shared AIPAINT_HTTP_TOKEN: no name, no personal limit.
//
// The store enforces the limit (store.Policy.Person), and reports it in the
// same encoding: a null limit is no limit.
type Person struct {
	Name  string // from the tokens file; "" = the single user
	Limit *int   // images a day; nil = no personal limit (0 = may not submit)
}

// own is p with a Limit of its own: a Set stays as read, whatever its
// callers do with the people it returns.
func (p Person) own() Person {
	if p.Limit != nil {
		p.Limit = new(*p.Limit)
	}
	return p
}

// Rules of the file.
const (
	MaxNameLength  = 64      // characters
	MinTokenLength = 16      // characters
	MaxLimit       = 1000000 // images a day, as AIPAINT_DAILY_IMAGE_LIMIT
	// MaxFileBytes bounds what Load reads: a tokens file of ten thousand
	// people is well under 1 MiB.
	MaxFileBytes = 4 << 20

	hashPrefix = "sha256:"
	hashDigits = 2 * sha256.Size // lowercase hex digits after hashPrefix
)

// NoToken in the token column: the person has no static token, and signs
// in with the identity provider instead.
const NoToken = "-"

// Set is the people of one version of the tokens file. It is immutable.
type Set struct {
	entries []entry
	byName  map[string]int // folded name -> index in entries
}

type entry struct {
	hash    [sha256.Size]byte // of the token
	noToken bool              // NoToken: hash is unused, and Lookup never finds the entry
	person  Person
}

// LineError is a malformed line. It names the line and what is wrong with
// it, never the line's text.
type LineError struct {
	Line   int // from 1
	Reason string
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Reason) }

// Parse reads a tokens file. A malformed line makes the whole file invalid:
// the error is a *LineError (the first one found).
func Parse(data []byte) (*Set, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	s := &Set{byName: map[string]int{}}
	names := map[string]int{}             // case-folded name -> line
	tokens := map[[sha256.Size]byte]int{} // token hash -> line
	for i, raw := range bytes.Split(data, []byte("\n")) {
		n := i + 1
		line := bytes.TrimSuffix(raw, []byte("\r"))
		if !utf8.Valid(line) {
			return nil, &LineError{n, "not valid UTF-8"}
		}
		fields := strings.FieldsFunc(string(line), func(r rune) bool { return r == ' ' || r == '\t' })
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		e, err := parseLine(fields)
		if err != nil {
			return nil, &LineError{n, err.Error()}
		}
		key := foldName(e.person.Name)
		if prev, ok := names[key]; ok {
			return nil, &LineError{n, fmt.Sprintf("the name is already used on line %d (names are unique, whatever their case)", prev)}
		}
		if prev, ok := tokens[e.hash]; ok && !e.noToken {
			return nil, &LineError{n, fmt.Sprintf("the token is already used on line %d (tokens are unique)", prev)}
		}
		names[key] = n
		if !e.noToken {
			tokens[e.hash] = n
		}
		s.byName[key] = len(s.entries)
		s.entries = append(s.entries, e)
	}
	return s, nil
}

// parseLine reads the fields of one line. Its errors never quote a field.
func parseLine(fields []string) (entry, error) {
	var e entry
	switch {
	case len(fields) < 2:
		return e, errors.New("no token: want NAME TOKEN [LIMIT]")
	case len(fields) > 3:
		return e, errors.New("too many fields: want NAME TOKEN [LIMIT], separated by spaces or tabs (no comments after them)")
	}
	name, token := fields[0], fields[1]
	if err := checkName(name); err != nil {
		return e, err
	}
	e.person.Name = name
	if token == NoToken {
		e.noToken = true
	} else {
		hash, err := tokenHash(token)
		if err != nil {
			return e, err
		}
		e.hash = hash
	}
	if len(fields) == 3 {
		limit, err := parseLimit(fields[2])
		if err != nil {
			return e, err
		}
		e.person.Limit = &limit
	}
	return e, nil
}

func checkName(name string) error {
	if utf8.RuneCountInString(name) > MaxNameLength {
		return fmt.Errorf("the name (first field) is longer than %d characters", MaxNameLength)
	}
	for _, r := range name {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !strings.ContainsRune(".-_@+|", r) {
			return errors.New("the name (first field) may only have letters, digits, '.', '_', '-', '@', '+' and '|'")
		}
	}
	return nil
}

// tokenHash is the SHA-256 of a token, from the token or from its sha256: form.
func tokenHash(token string) ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	if len(token) >= len(hashPrefix) && strings.EqualFold(token[:len(hashPrefix)], hashPrefix) {
		bad := fmt.Errorf("a hashed token (second field) is %s and %d lowercase hex digits", hashPrefix, hashDigits)
		digits := token[len(hashPrefix):]
		if token[:len(hashPrefix)] != hashPrefix || len(digits) != hashDigits || strings.ToLower(digits) != digits {
			return sum, bad
		}
		if _, err := hex.Decode(sum[:], []byte(digits)); err != nil {
			return sum, bad
		}
		return sum, nil
	}
	if !validToken(token) {
		return sum, fmt.Errorf("the token (second field) must have at least %d printable characters, without spaces (or be %s: no token, the person signs in)", MinTokenLength, NoToken)
	}
	return sha256.Sum256([]byte(token)), nil
}

// validToken: at least MinTokenLength characters, each printable and not a space.
func validToken(token string) bool {
	if utf8.RuneCountInString(token) < MinTokenLength || !utf8.ValidString(token) {
		return false
	}
	for _, r := range token {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return false
		}
	}
	return true
}

func parseLimit(s string) (int, error) {
	bad := fmt.Errorf("the limit (third field) must be a whole number of images a day from 0 to %d", MaxLimit)
	for _, r := range s {
		if r < '0' || r > '9' {
			return 0, bad
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n > MaxLimit {
		return 0, bad
	}
	return n, nil
}

// foldName is the form in which two names are the same person.
func foldName(name string) string { return strings.ToLower(name) }

// Load reads and parses the tokens file at path. Its errors name the path
// and the line, never a token.
func Load(path string) (*Set, error) {
	s, _, err := load(path)
	return s, err
}

// load also returns what the file was when it was read, for the watcher.
func load(path string) (*Set, os.FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err // an *os.PathError: it names the path
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fi, fmt.Errorf("%s: not a regular file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, fi, err
	}
	if len(data) > MaxFileBytes {
		return nil, fi, fmt.Errorf("%s: larger than %d MiB", path, MaxFileBytes>>20)
	}
	s, err := Parse(data)
	if err != nil {
		return nil, fi, fmt.Errorf("%s: %w", path, err)
	}
	return s, fi, nil
}

// Len is the number of people.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.entries)
}

// SignInOnly counts the people without a token (NoToken): only sign-in
// (AIPAINT_OAUTH_ISSUER) lets them in.
func (s *Set) SignInOnly() int {
	if s == nil {
		return 0
	}
	n := 0
	for _, e := range s.entries {
		if e.noToken {
			n++
		}
	}
	return n
}

// Lookup finds the person whose token this is. It takes the same time
// whichever entry matches, or none: the token's SHA-256 is compared with
// every entry's in constant time. A token too short or with spaces or
// control characters never matches, even one listed by its hash.
func (s *Set) Lookup(token string) (Person, bool) {
	if s == nil || !validToken(token) {
		return Person{}, false
	}
	sum := sha256.Sum256([]byte(token))
	found := -1
	for i := range s.entries {
		eq := subtle.ConstantTimeCompare(sum[:], s.entries[i].hash[:])
		if s.entries[i].noToken {
			eq = 0 // the same work, never a match
		}
		found = subtle.ConstantTimeSelect(eq, i, found)
	}
	if found < 0 {
		return Person{}, false
	}
	return s.entries[found].person.own(), true
}

// Named finds the person of a name, whatever its case: how a person who
// signs in with the identity provider is found (by verified email, or by
// sub), whether their line has a token or NoToken.
func (s *Set) Named(name string) (Person, bool) {
	if s == nil || name == "" {
		return Person{}, false
	}
	i, ok := s.byName[foldName(name)]
	if !ok {
		return Person{}, false
	}
	return s.entries[i].person.own(), true
}

// People lists everyone in the file's order (without their tokens).
func (s *Set) People() []Person {
	if s == nil {
		return nil
	}
	out := make([]Person, len(s.entries))
	for i, e := range s.entries {
		out[i] = e.person.own()
	}
	return out
}

type ctxKey struct{}

// NewContext returns ctx carrying p, the person a request came from.
func NewContext(ctx context.Context, p Person) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the person NewContext put in ctx. ok is false when
// there is none (stdio, or an HTTP server with one shared token or none):
// the caller is then the zero Person, the single user.
func FromContext(ctx context.Context) (p Person, ok bool) {
	p, ok = ctx.Value(ctxKey{}).(Person)
	return p, ok
}
