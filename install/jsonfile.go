package install

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// object is a JSON object that keeps its keys in file order and its values
// byte for byte, so a merge changes only what it means to change.
type object struct {
	keys []string
	vals map[string]json.RawMessage
}

func newObject() *object { return &object{vals: map[string]json.RawMessage{}} }

// parseObject reads a JSON object (after stripJSONC). Duplicate keys keep the
// last value, as JSON parsers do.
func parseObject(data []byte) (*object, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, syntaxErr(data, dec, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("the top level is not a JSON object")
	}
	o := newObject()
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, syntaxErr(data, dec, err)
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, syntaxErr(data, dec, err)
		}
		o.setRaw(key, v)
	}
	if _, err := dec.Token(); err != nil {
		return nil, syntaxErr(data, dec, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("unexpected text after the JSON object")
	}
	return o, nil
}

// syntaxErr says where the JSON broke, as a line number a person can find.
func syntaxErr(data []byte, dec *json.Decoder, err error) error {
	off := dec.InputOffset()
	var se *json.SyntaxError
	if errors.As(err, &se) {
		off = se.Offset
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("the JSON ends too early")
	}
	line := 1 + bytes.Count(data[:min(int(off), len(data))], []byte("\n"))
	return fmt.Errorf("invalid JSON near line %d: %w", line, err)
}

func (o *object) get(key string) (json.RawMessage, bool) {
	v, ok := o.vals[key]
	return v, ok
}

func (o *object) setRaw(key string, v json.RawMessage) {
	if _, ok := o.vals[key]; !ok {
		o.keys = append(o.keys, key)
	}
	o.vals[key] = v
}

// set encodes v without HTML escaping: a "<" stays "<" in the file.
func (o *object) set(key string, v any) error {
	b, err := marshal(v)
	if err != nil {
		return err
	}
	o.setRaw(key, b)
	return nil
}

func (o *object) del(key string) {
	if _, ok := o.vals[key]; !ok {
		return
	}
	delete(o.vals, key)
	for i, k := range o.keys {
		if k == key {
			o.keys = append(o.keys[:i], o.keys[i+1:]...)
			break
		}
	}
}

// MarshalJSON writes the keys in order and the values as they are.
func (o *object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, err := marshal(k)
		if err != nil {
			return nil, err
		}
		b.Write(kb)
		b.WriteByte(':')
		b.Write(o.vals[k])
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// indented is the file's text: two-space indent and a final newline.
func (o *object) indented() ([]byte, error) {
	raw, err := o.MarshalJSON()
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return nil, fmt.Errorf("format JSON: %w", err)
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

func marshal(v any) ([]byte, error) {
	if o, ok := v.(*object); ok {
		return o.MarshalJSON()
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode JSON: %w", err)
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// childObject reads o[key] as an object; absent or null gives an empty one.
func childObject(o *object, key string) (*object, error) {
	raw, ok := o.get(key)
	if !ok || string(bytes.TrimSpace(raw)) == "null" {
		return newObject(), nil
	}
	child, err := parseObject(raw)
	if err != nil {
		return nil, fmt.Errorf("%q is not a JSON object", key)
	}
	return child, nil
}

// stripJSONC removes // and /* */ comments and trailing commas, outside
// strings: VS Code's JSON with comments. It reports whether it removed any
// comment (they cannot be kept).
func stripJSONC(in []byte) ([]byte, bool) {
	noComments, had := scan(in, func(in []byte, i int, out []byte) ([]byte, int, bool) {
		switch {
		case in[i] == '/' && i+1 < len(in) && in[i+1] == '/':
			for i < len(in) && in[i] != '\n' {
				i++
			}
			return out, i - 1, true // keep the newline: line numbers stay right
		case in[i] == '/' && i+1 < len(in) && in[i+1] == '*':
			end := bytes.Index(in[i+2:], []byte("*/"))
			if end < 0 {
				return append(out, in[i:]...), len(in), true // unterminated: the parser rejects it
			}
			comment := in[i : i+2+end+2]
			out = append(out, bytes.Repeat([]byte("\n"), bytes.Count(comment, []byte("\n")))...)
			return append(out, ' '), i + len(comment) - 1, true
		}
		return append(out, in[i]), i, false
	})
	clean, _ := scan(noComments, func(in []byte, i int, out []byte) ([]byte, int, bool) {
		if in[i] == ',' {
			j := i + 1
			for j < len(in) && bytes.IndexByte([]byte(" \t\r\n"), in[j]) >= 0 {
				j++
			}
			if j < len(in) && (in[j] == '}' || in[j] == ']') {
				return out, i, true // a trailing comma
			}
		}
		return append(out, in[i]), i, false
	})
	return clean, had
}

// scan copies in to a new slice, passing every byte outside JSON strings to
// step, which appends what to keep and returns the index of the last byte it
// consumed and whether it changed anything.
func scan(in []byte, step func(in []byte, i int, out []byte) ([]byte, int, bool)) ([]byte, bool) {
	out := make([]byte, 0, len(in))
	changed, inString := false, false
	for i := 0; i < len(in); i++ {
		c := in[i]
		if inString {
			out = append(out, c)
			if c == '\\' && i+1 < len(in) {
				i++
				out = append(out, in[i])
			} else if c == '"' {
				inString = false
			}
			continue
		}
		if c == '"' {
			inString = true
			out = append(out, c)
			continue
		}
		var did bool
		out, i, did = step(in, i, out)
		changed = changed || did
	}
	return out, changed
}
