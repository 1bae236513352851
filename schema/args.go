package schema

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// GenerateArgs are the arguments of generate_image, as the model sends them.
// The JSON schema is reflected from this struct; each argument's bounds,
// default and description come from the table in jsonschema.go.
type GenerateArgs struct {
	Text        string `json:"text"`
	Style       string `json:"style,omitempty"`
	Resolution  string `json:"resolution,omitempty"`
	Num         int    `json:"num,omitempty"`
	Wait        *bool  `json:"wait,omitempty"`
	WaitSeconds *int   `json:"wait_seconds,omitempty"`
	ForceNew    *bool  `json:"force_new,omitempty"`
	Preview     *bool  `json:"preview,omitempty"`
}

// CheckArgs are the arguments of check_task.
type CheckArgs struct {
	TaskID      string `json:"task_id"`
	WaitSeconds *int   `json:"wait_seconds,omitempty"`
	Preview     *bool  `json:"preview,omitempty"`
}

// ListStylesArgs: list_styles takes no arguments.
type ListStylesArgs struct{}

// Defaults that the argument table gives.
const (
	DefaultNum              = 1
	DefaultWait             = true
	DefaultForceNew         = false
	DefaultWaitSeconds      = 40
	DefaultCheckWaitSeconds = 0
	DefaultMaxWaitSeconds   = 50
	MaxTaskIDChars          = 128
)

// Limits are the configured caps that normalisation applies.
type Limits struct {
	MaxWaitSeconds int  // wait_seconds above this is lowered to it
	MaxNum         int  // num above this is refused; 0 = MaxNum
	Preview        bool // the default of preview
}

// CapWait lowers a wait to the configured cap: capped, not refused, because
// clients give up on long calls.
func (l Limits) CapWait(w int) int {
	if l.MaxWaitSeconds > 0 && w > l.MaxWaitSeconds {
		return l.MaxWaitSeconds
	}
	return w
}

func (l Limits) maxNum() int {
	if l.MaxNum <= 0 || l.MaxNum > MaxNum {
		return MaxNum
	}
	return l.MaxNum
}

// Generate is a validated generate_image request.
type Generate struct {
	Text        string
	Style       Style
	Resolution  Resolution
	Num         int
	Wait        bool
	WaitSeconds int
	ForceNew    bool
	Preview     bool
	Ignored     []string // arguments a host injected (InjectedArgs), not the model's
}

// Check is a validated check_task request.
type Check struct {
	TaskID      string
	WaitSeconds int
	Preview     bool
	Ignored     []string // arguments a host injected (InjectedArgs), not the model's
}

// ArgError lists every problem found in one call's arguments, each written
// for a model to act on.
type ArgError struct{ Problems []string }

func (e *ArgError) Error() string { return "invalid arguments: " + strings.Join(e.Problems, "; ") }

// InjectedArgs are the arguments that hosts add to every tool call on
// their own, by name, with the host that adds them. They are ignored (the
// tools log them at debug level); any other unknown argument is still
// refused with the list of allowed ones, so that a misspelt real argument
// (waitseconds, task-id) or one the model made up (size, negative_prompt)
// is never silently dropped. A table rather than a guess by edit distance:
// a guess would also swallow made-up arguments that a model believes work.
var InjectedArgs = map[string]string{
	"wait_for_previous": "Gemini CLI adds this boolean to every MCP tool and tells the model to set it on dependent calls",
}

type argReader struct {
	args     map[string]any
	problems []string
	ignored  []string // injected arguments, in name order
}

func (r *argReader) fail(format string, a ...any) {
	r.problems = append(r.problems, fmt.Sprintf(format, a...))
}

func (r *argReader) unknown(allowed ...string) {
	var extra []string
	for k := range r.args {
		if !contains(allowed, k) {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	for _, k := range extra {
		if _, injected := InjectedArgs[k]; injected {
			r.ignored = append(r.ignored, k)
			continue
		}
		if len(allowed) == 0 {
			r.fail("unknown argument %q; this tool takes no arguments", k)
			continue
		}
		r.fail("unknown argument %q; allowed arguments are %s", k, strings.Join(allowed, ", "))
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// str reads a string argument; ok is false when absent (or null).
func (r *argReader) str(name string) (string, bool) {
	v, present := r.args[name]
	if !present || v == nil {
		return "", false
	}
	s, isStr := v.(string)
	if !isStr {
		r.fail("%s must be a string, got %s", name, kind(v))
		return "", false
	}
	return s, true
}

// integer reads an integer argument, accepting whole numbers and digit strings
// (models sometimes quote numbers).
func (r *argReader) integer(name string) (int, bool) {
	v, present := r.args[name]
	if !present || v == nil {
		return 0, false
	}
	switch n := v.(type) {
	case float64:
		if n == math.Trunc(n) && math.Abs(n) < 1e9 {
			return int(n), true
		}
	case int:
		return n, true
	case int64:
		if n > -1e9 && n < 1e9 {
			return int(n), true
		}
	case json.Number:
		if i, err := strconv.Atoi(n.String()); err == nil {
			return i, true
		}
		// 3.0 or 3e0: accepted as a float64 above, so accepted here too.
		if f, err := n.Float64(); err == nil && f == math.Trunc(f) && math.Abs(f) < 1e9 {
			return int(f), true
		}
	case string:
		if i, err := strconv.Atoi(strings.TrimSpace(n)); err == nil {
			return i, true
		}
	}
	r.fail("%s must be a whole number, got %s", name, kind(v))
	return 0, false
}

func (r *argReader) boolean(name string) (bool, bool) {
	v, present := r.args[name]
	if !present || v == nil {
		return false, false
	}
	switch b := v.(type) {
	case bool:
		return b, true
	case string:
		if p, err := strconv.ParseBool(strings.TrimSpace(b)); err == nil {
			return p, true
		}
	}
	r.fail("%s must be true or false, got %s", name, kind(v))
	return false, false
}

func kind(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("the string %q", truncate(x, 40))
	case float64, int, int64, json.Number:
		return fmt.Sprintf("the number %v", x)
	case bool:
		return fmt.Sprintf("%v", x)
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

func (r *argReader) waitSeconds(def int, lim Limits) int {
	w, ok := r.integer("wait_seconds")
	if !ok {
		w = def
	}
	if w < 0 {
		r.fail("wait_seconds must be 0 or more, got %d", w)
	}
	return lim.CapWait(w)
}

func (r *argReader) err() error {
	if len(r.problems) == 0 {
		return nil
	}
	return &ArgError{Problems: r.problems}
}

func visible(r rune) bool { return unicode.In(r, unicode.L, unicode.N, unicode.P, unicode.S) }

// NormalizeText trims the prompt, folds line breaks and tabs into spaces, and
// checks it is 1 to MaxTextChars characters (characters, not bytes) with no control codes.
func NormalizeText(raw string) (string, error) {
	if !utf8.ValidString(raw) {
		return "", fmt.Errorf("text is not valid UTF-8")
	}
	for _, c := range raw {
		if c != '\n' && c != '\r' && c != '\t' && unicode.IsControl(c) || c == utf8.RuneError {
			return "", fmt.Errorf("text contains control characters or invalid bytes; send plain text")
		}
	}
	// A CRLF is one line break: fold it to one space, not two, so that it
	// costs one character of MaxTextChars.
	text := strings.TrimSpace(strings.Map(func(c rune) rune {
		if c == '\n' || c == '\r' || c == '\t' {
			return ' '
		}
		return c
	}, strings.ReplaceAll(raw, "\r\n", "\n")))
	n := utf8.RuneCountInString(text)
	switch {
	case n == 0:
		return "", fmt.Errorf("text is empty; describe what to draw in 1-%d characters", MaxTextChars)
	case strings.IndexFunc(text, visible) < 0:
		// Zero-width and direction marks alone would be billed for nothing.
		return "", fmt.Errorf("text has no visible characters; describe what to draw in 1-%d characters", MaxTextChars)
	case n > MaxTextChars:
		return "", fmt.Errorf("text has %d characters; the limit is %d (shorten it, and put the style in the style argument)", n, MaxTextChars)
	}
	return text, nil
}

// NormalizeGenerate validates and fills in generate_image arguments.
func NormalizeGenerate(args map[string]any, lim Limits) (Generate, error) {
	r := &argReader{args: args}
	r.unknown("text", "style", "resolution", "num", "wait", "wait_seconds", "force_new", "preview")
	g := Generate{Style: DefaultStyle(), Resolution: DefaultResolution(), Num: DefaultNum, Wait: DefaultWait, ForceNew: DefaultForceNew, Preview: lim.Preview}

	if raw, ok := r.str("text"); ok {
		t, err := NormalizeText(raw)
		if err != nil {
			r.fail("%s", err)
		}
		g.Text = t
	} else if _, present := args["text"]; !present || args["text"] == nil {
		r.fail("text is required: describe what to draw in 1-%d characters", MaxTextChars)
	}
	if s, ok := r.str("style"); ok && strings.TrimSpace(s) != "" {
		st, err := ParseStyle(s)
		if err != nil {
			r.fail("%s", err)
		}
		g.Style = st
	}
	if s, ok := r.str("resolution"); ok && strings.TrimSpace(s) != "" {
		res, err := ParseResolution(s)
		if err != nil {
			r.fail("%s", err)
		}
		g.Resolution = res
	}
	if n, ok := r.integer("num"); ok {
		if n < MinNum || n > lim.maxNum() {
			r.fail("num must be between %d and %d, got %d", MinNum, lim.maxNum(), n)
		}
		g.Num = n
	}
	if w, ok := r.boolean("wait"); ok {
		g.Wait = w
	}
	if f, ok := r.boolean("force_new"); ok {
		g.ForceNew = f
	}
	if p, ok := r.boolean("preview"); ok {
		g.Preview = p
	}
	g.WaitSeconds = r.waitSeconds(DefaultWaitSeconds, lim)
	g.Ignored = r.ignored
	return g, r.err()
}

// NormalizeCheck validates check_task arguments.
func NormalizeCheck(args map[string]any, lim Limits) (Check, error) {
	r := &argReader{args: args}
	r.unknown("task_id", "wait_seconds", "preview")
	c := Check{Preview: lim.Preview}
	if id, ok := r.str("task_id"); ok {
		c.TaskID = strings.TrimSpace(id)
		switch {
		case c.TaskID == "":
			r.fail("task_id is empty; pass the task_id that generate_image returned")
		case !utf8.ValidString(c.TaskID) || utf8.RuneCountInString(c.TaskID) > MaxTaskIDChars ||
			strings.IndexFunc(c.TaskID, unicode.IsControl) >= 0 ||
			strings.ContainsAny(c.TaskID, `/\`) || strings.Contains(c.TaskID, ".."): // ids are names, never paths
			r.fail("task_id %q does not look like a task id; pass the task_id that generate_image returned", truncate(c.TaskID, 40))
		}
	} else if args["task_id"] == nil {
		r.fail("task_id is required: pass the task_id that generate_image returned")
	}
	if p, ok := r.boolean("preview"); ok {
		c.Preview = p
	}
	c.WaitSeconds = r.waitSeconds(DefaultCheckWaitSeconds, lim)
	c.Ignored = r.ignored
	return c, r.err()
}

// NormalizeNone checks that a tool without arguments got none.
func NormalizeNone(args map[string]any) error {
	r := &argReader{args: args}
	r.unknown()
	return r.err()
}
