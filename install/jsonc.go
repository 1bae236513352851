package install

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/tailscale/hujson"
)

// doc is a config file as its syntax tree (JSON, or VS Code's JSON with
// comments and trailing commas). Edits replace only the values they change
// and put new members at the end of their object, laid out like their
// siblings, so comments, trailing commas, key order, the spelling of numbers
// and the layout of everything else stay as the user left them.
type doc struct {
	root hujson.Value
	unit string // one level of indentation, as the file has it
	eol  string // the file's line ending: "\n", or "\r\n" when it has those
}

// parseDoc reads a config file; an empty one is an empty object.
func parseDoc(data []byte) (*doc, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		data = []byte("{}\n")
	}
	v, err := hujson.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("invalid JSON at %s", strings.TrimPrefix(err.Error(), "hujson: "))
	}
	obj, ok := v.Value.(*hujson.Object)
	if !ok {
		return nil, errors.New("the top level is not a JSON object")
	}
	d := &doc{root: v, unit: "  ", eol: "\n"}
	if bytes.Contains(data, []byte("\r\n")) {
		d.eol = "\r\n"
	}
	if in, ok := childIndent(obj); ok && in != "" {
		d.unit = in
	}
	return d, nil
}

// bytes is the file's new text.
func (d *doc) bytes() []byte { return d.root.Pack() }

var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

// pointer is the JSON pointer (RFC 6901) of a path of names and indexes.
func pointer(path []string) string {
	var b strings.Builder
	for _, p := range path {
		b.WriteByte('/')
		b.WriteString(pointerEscaper.Replace(p))
	}
	return b.String()
}

// find is the value at path, or nil.
func (d *doc) find(path ...string) *hujson.Value { return d.root.Find(pointer(path)) }

func isNull(v *hujson.Value) bool { return v.Value.Kind() == 'n' }

// object is the object at path: nil when absent or null.
func (d *doc) object(path ...string) (*hujson.Object, error) {
	v := d.find(path...)
	if v == nil || isNull(v) {
		return nil, nil
	}
	o, ok := v.Value.(*hujson.Object)
	if !ok {
		return nil, fmt.Errorf("%q is not a JSON object", path[len(path)-1])
	}
	return o, nil
}

// array is the array at path: nil when absent or null.
func (d *doc) array(path ...string) (*hujson.Array, error) {
	v := d.find(path...)
	if v == nil || isNull(v) {
		return nil, nil
	}
	a, ok := v.Value.(*hujson.Array)
	if !ok {
		return nil, fmt.Errorf("%q is not a JSON array", path[len(path)-1])
	}
	return a, nil
}

// ensureObject makes the value at path an object (an empty one when it is
// absent or null) and returns it.
func (d *doc) ensureObject(path ...string) (*hujson.Object, error) {
	o, err := d.object(path...)
	if err != nil || o != nil {
		return o, err
	}
	if err := d.set(struct{}{}, path...); err != nil {
		return nil, err
	}
	return d.object(path...)
}

// set puts v at path: it replaces the value there, or adds an object member
// at the end of its object, or (with the last element "-") appends to an
// array. An equal value is left as it is written.
func (d *doc) set(v any, path ...string) error {
	parentPath := path[:len(path)-1]
	parent := d.find(parentPath...)
	if parent == nil {
		return fmt.Errorf("no %s to add to", pointer(parentPath))
	}
	comp := parent.Value
	old := d.find(path...)
	if old != nil && sameJSON(old, v) {
		return nil
	}
	multi := d.multiline(parentPath)
	inner := d.indentInside(parentPath)
	text, err := encode(v, inner, d.unit, multi)
	if err != nil {
		return err
	}
	text = bytes.ReplaceAll(text, []byte("\n"), []byte(d.eol))
	trailingComma := hasTrailingComma(comp)
	op := "add"
	if old != nil {
		op = "replace"
	}
	patch := `[{"op":` + strconv.Quote(op) + `,"path":` + quote(pointer(path)) + `,"value":` + string(text) + `}]`
	if err := d.root.Patch([]byte(patch)); err != nil {
		return fmt.Errorf("edit %s: %w", pointer(path), err)
	}
	if old == nil {
		layoutLast(comp, multi, d.eol+inner, d.eol+d.ownIndent(parentPath), trailingComma)
	}
	return nil
}

// remove takes out the value at path, if it is there. Comments that belong
// to the line before stay with it.
func (d *doc) remove(path ...string) error {
	if d.find(path...) == nil {
		return nil
	}
	patch := `[{"op":"remove","path":` + quote(pointer(path)) + `}]`
	if err := d.root.Patch([]byte(patch)); err != nil {
		return fmt.Errorf("edit %s: %w", pointer(path), err)
	}
	return nil
}

// quote is s as a JSON string, without HTML escaping.
func quote(s string) string {
	b, _ := encode(s, "", "", false) // a string always encodes
	return string(b)
}

// encode writes v as JSON: indented from prefix by unit when its place is
// laid out over several lines, compact otherwise; "<" stays "<".
func encode(v any, prefix, unit string, multi bool) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if multi {
		enc.SetIndent(prefix, unit)
	}
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode JSON: %w", err)
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// sameJSON reports whether the value written in the file means v.
func sameJSON(old *hujson.Value, v any) bool {
	was := old.Clone()
	was.Standardize()
	var a, b any
	want, err := encode(v, "", "", false)
	return err == nil && json.Unmarshal(was.Pack(), &a) == nil && json.Unmarshal(want, &b) == nil && reflect.DeepEqual(a, b)
}

// minimal is a value as compact standard JSON: no comments (which may hold
// anything), no layout.
func minimal(v *hujson.Value) []byte {
	c := v.Clone()
	c.Minimize()
	return c.Pack()
}

// stringOf is the value of a JSON string, or the compact JSON text of
// anything else.
func stringOf(v *hujson.Value) string {
	if lit, ok := v.Value.(hujson.Literal); ok && lit.Kind() == '"' {
		return lit.String()
	}
	return string(minimal(v))
}

// names lists an object's member names in file order.
func names(o *hujson.Object) []string {
	if o == nil {
		return nil
	}
	out := make([]string, len(o.Members))
	for i, m := range o.Members {
		out[i] = stringOf(&m.Name)
	}
	return out
}

// member is the value of an object's member, or nil.
func member(o *hujson.Object, name string) *hujson.Value {
	if o == nil {
		return nil
	}
	for i := range o.Members {
		if stringOf(&o.Members[i].Name) == name {
			return &o.Members[i].Value
		}
	}
	return nil
}

// elements are an array's elements; none for a nil array.
func elements(a *hujson.Array) []hujson.Value {
	if a == nil {
		return nil
	}
	return a.Elements
}

// befores are the comments and white space before each member or element
// and before the closing bracket.
func befores(comp hujson.ValueTrimmed) (items []*hujson.Extra, closing *hujson.Extra) {
	switch c := comp.(type) {
	case *hujson.Object:
		for i := range c.Members {
			items = append(items, &c.Members[i].Name.BeforeExtra)
		}
		return items, &c.AfterExtra
	case *hujson.Array:
		for i := range c.Elements {
			items = append(items, &c.Elements[i].BeforeExtra)
		}
		return items, &c.AfterExtra
	}
	return nil, nil
}

// multiline reports whether the object or array at path is laid out one item
// per line. An empty one takes the layout of its nearest non-empty parent: in a
// file written on one line, what is added stays on that line.
func (d *doc) multiline(path []string) bool {
	items, closing := befores(d.find(path...).Value)
	if len(items) == 0 {
		return len(path) == 0 || d.multiline(path[:len(path)-1])
	}
	for _, e := range append(items, closing) {
		if bytes.IndexByte(*e, '\n') >= 0 {
			return true
		}
	}
	return false
}

// childIndent is the indentation of the items of an object or array, from
// the first one that starts a line.
func childIndent(comp hujson.ValueTrimmed) (string, bool) {
	items, _ := befores(comp)
	for _, e := range items {
		if i := bytes.LastIndexByte(*e, '\n'); i >= 0 {
			rest := (*e)[i+1:]
			return string(rest[:len(rest)-len(bytes.TrimLeft(rest, " \t"))]), true
		}
	}
	return "", false
}

// ownIndent is the indentation of the line the value at path starts on.
func (d *doc) ownIndent(path []string) string {
	if len(path) == 0 {
		return ""
	}
	return d.indentInside(path[:len(path)-1])
}

// indentInside is the indentation of the items of the object or array at path.
func (d *doc) indentInside(path []string) string {
	v := d.find(path...)
	if v == nil {
		return ""
	}
	if in, ok := childIndent(v.Value); ok {
		return in
	}
	return d.ownIndent(path) + d.unit
}

func hasTrailingComma(comp hujson.ValueTrimmed) bool {
	switch c := comp.(type) {
	case *hujson.Object:
		return len(c.Members) > 0 && c.Members[len(c.Members)-1].Value.AfterExtra != nil
	case *hujson.Array:
		return len(c.Elements) > 0 && c.Elements[len(c.Elements)-1].AfterExtra != nil
	}
	return false
}

// layoutLast places a just-added last item like its siblings: on its own line
// at their indentation (or after a space on a one-line object), a space after
// its colon, the closing bracket on its own line, and the trailing comma kept
// when the object or array had one. newInner and newOwn are a line break and
// the indentation of the items and of the closing bracket.
func layoutLast(comp hujson.ValueTrimmed, multi bool, newInner, newOwn string, trailingComma bool) {
	items, closing := befores(comp)
	if len(items) == 0 {
		return
	}
	before := items[len(items)-1]
	b := bytes.TrimRight(*before, " \t")
	switch {
	case !multi:
		if len(b) == 0 && len(items) > 1 {
			b = []byte(" ")
		}
	case len(b) > 0 && b[len(b)-1] == '\n':
		b = append(b, strings.TrimLeft(newInner, "\r\n")...)
	default:
		b = append(bytes.TrimRight(b, "\r"), newInner...)
	}
	*before = b
	if multi && bytes.IndexByte(*closing, '\n') < 0 {
		*closing = append(bytes.TrimRight(*closing, " \t"), newOwn...)
	}
	switch c := comp.(type) {
	case *hujson.Object:
		last := &c.Members[len(c.Members)-1]
		if len(last.Value.BeforeExtra) == 0 {
			last.Value.BeforeExtra = hujson.Extra(" ")
		}
		if trailingComma {
			last.Value.AfterExtra = hujson.Extra{}
		}
	case *hujson.Array:
		if trailingComma {
			c.Elements[len(c.Elements)-1].AfterExtra = hujson.Extra{}
		}
	}
}
