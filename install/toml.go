package install

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"

	toml "github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"

	"aipaint-mcp/config"
)

// Codex CLI keeps its servers in TOML (~/.codex/config.toml), as
// [mcp_servers.NAME] tables: command, args, env for stdio; url,
// bearer_token_env_var (or http_headers) for streamable HTTP. The rest of
// the file is left byte for byte: go-toml's parser locates the lines of the
// aipaint entry, only those are replaced (by go-toml's encoding of the merged
// entry), and the result is decoded again and checked to mean the old file
// with only that entry changed. Comments inside the aipaint table itself are
// not kept; unknown keys of the entry are.

// codexTransport are the entry's keys that say how to reach the server.
var codexTransport = []string{"command", "args", "env", "env_vars", "cwd", "url", "bearer_token_env_var", "env_http_headers"}

func planTOML(c Client, o Options, r *Result, old []byte) error {
	var root map[string]any
	if err := toml.Unmarshal(old, &root); err != nil {
		return fmt.Errorf("%s is not valid TOML, so it was left unchanged: %w. Fix or move it, then run install again", r.Path, tomlError(err))
	}
	if root == nil {
		root = map[string]any{}
	}
	servers, ok := root[c.key].(map[string]any)
	if !ok && root[c.key] != nil {
		return fmt.Errorf("%s: %q is not a table (left unchanged)", r.Path, c.key)
	}
	entry := map[string]any{}
	if e, has := servers[ServerName]; has {
		m, ok := e.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: the existing %q entry is not a table (left unchanged)", r.Path, ServerName)
		}
		entry = maps.Clone(m)
		r.Updated = true
	}
	existing := map[string]string{}
	env, _ := entry["env"].(map[string]any)
	if entry["env"] != nil && env == nil {
		return fmt.Errorf("%s: the env of the %q entry is not a table (left unchanged)", r.Path, ServerName)
	}
	for k, v := range env {
		s, ok := v.(string)
		if !ok {
			s = fmt.Sprint(v)
		}
		existing[k] = s
	}
	values, err := envValues(o, c, r, existing)
	if err != nil {
		return err
	}
	for _, k := range codexTransport {
		if k != "env" {
			delete(entry, k)
		}
	}
	headers, _ := entry["http_headers"].(map[string]any)
	delete(headers, "Authorization")
	if len(headers) == 0 {
		delete(entry, "http_headers")
	}
	if o.URL != "" {
		delete(entry, "env")
		entry["url"] = o.URL
		switch {
		case o.WriteToken:
			if headers == nil {
				headers = map[string]any{}
			}
			headers["Authorization"] = "Bearer " + o.Platform.Getenv(o.TokenEnv)
			entry["http_headers"] = headers
		case o.TokenEnv != "":
			entry["bearer_token_env_var"] = o.TokenEnv
		}
	} else {
		var oldArgs []string
		if a, ok := asTable(servers[ServerName])["args"].([]any); ok {
			for _, v := range a {
				if s, ok := v.(string); ok {
					oldArgs = append(oldArgs, s)
				}
			}
		}
		cmd, args := command(oldArgs, c, o)
		entry["command"] = cmd
		if args != nil {
			entry["args"] = args
		}
		newEnv := maps.Clone(env)
		if newEnv == nil {
			newEnv = map[string]any{}
		}
		for _, v := range values {
			switch {
			case v.remove:
				delete(newEnv, v.name)
			case v.placeholder && newEnv[v.name] != nil:
			default:
				newEnv[v.name] = v.value
			}
		}
		delete(entry, "env")
		if len(newEnv) > 0 {
			entry["env"] = newEnv
		}
	}
	block, err := tomlEntry(c, entry)
	if err != nil {
		return err
	}
	if r.Content, err = spliceTOML(old, c.key, block); err != nil {
		return fmt.Errorf("%s: %w (left unchanged)", r.Path, err)
	}
	if err := checkSplice(root, r.Content, c.key, entry); err != nil {
		return fmt.Errorf("%s: %w (left unchanged)", r.Path, err)
	}
	return previewTOML(c, entry, servers, root, r)
}

// tomlError is go-toml's error with its line and column.
func tomlError(err error) error {
	var de *toml.DecodeError
	if errors.As(err, &de) {
		row, col := de.Position()
		return fmt.Errorf("line %d, column %d: %s", row, col, de.Error())
	}
	return err
}

// tomlEntry is the [mcp_servers.aipaint] table (and its sub-tables) as
// go-toml writes it.
func tomlEntry(c Client, entry map[string]any) ([]byte, error) {
	var b bytes.Buffer
	enc := toml.NewEncoder(&b)
	enc.SetIndentTables(false)
	if err := enc.Encode(map[string]any{c.key: map[string]any{ServerName: entry}}); err != nil {
		return nil, fmt.Errorf("encode TOML: %w", err)
	}
	// go-toml opens the parent table first; the file may define it elsewhere.
	return bytes.TrimPrefix(b.Bytes(), []byte("["+c.key+"]\n")), nil
}

// tomlExpr is one expression of a TOML file: the line it starts on, and what
// it is.
type tomlExpr struct {
	start  int
	kind   unstable.Kind
	path   []string // a header's table, or a key-value's full key
	header bool
}

// spliceTOML replaces the lines that define key.aipaint in data (its tables,
// its sub-tables, and dotted or inline key-values naming it) with block, at
// the place of its first table header, or at the end.
func spliceTOML(data []byte, key string, block []byte) ([]byte, error) {
	p := unstable.Parser{KeepComments: true}
	p.Reset(data)
	var exprs []tomlExpr
	var table []string
	lineStart := func(off uint32) int { return bytes.LastIndexByte(data[:off], '\n') + 1 }
	for p.NextExpression() {
		n := p.Expression()
		e := tomlExpr{kind: n.Kind}
		switch n.Kind {
		case unstable.Comment:
			e.start = lineStart(n.Raw.Offset)
		case unstable.Table, unstable.ArrayTable, unstable.KeyValue:
			var keys []string
			var first uint32
			it := n.Key()
			for it.Next() {
				if keys == nil {
					first = it.Node().Raw.Offset
				}
				keys = append(keys, string(it.Node().Data))
			}
			if n.Kind == unstable.KeyValue {
				e.path = append(slices.Clone(table), keys...)
			} else {
				table, e.path, e.header = keys, keys, true
			}
			e.start = lineStart(first)
		default:
			continue
		}
		exprs = append(exprs, e)
	}
	if err := p.Error(); err != nil {
		return nil, fmt.Errorf("parse TOML: %w", err)
	}
	mine := []string{key, ServerName}
	ours := make([]bool, len(exprs))
	in := false
	for i, e := range exprs {
		if e.header {
			in = hasPrefix(e.path, mine)
		}
		ours[i] = in || (e.kind == unstable.KeyValue && hasPrefix(e.path, mine))
	}
	// Comments just above a table that is not ours belong to that table.
	for i := len(exprs) - 1; i > 0; i-- {
		if exprs[i].header && !ours[i] {
			for j := i - 1; j >= 0 && exprs[j].kind == unstable.Comment && ours[j]; j-- {
				ours[j] = false
			}
		}
	}
	eol := "\n"
	if bytes.Contains(data, []byte("\r\n")) {
		eol = "\r\n"
		block = bytes.ReplaceAll(block, []byte("\n"), []byte("\r\n"))
	}
	var out bytes.Buffer
	placed := false
	place := func() {
		if out.Len() > 0 && !bytes.HasSuffix(out.Bytes(), []byte(eol+eol)) {
			if !bytes.HasSuffix(out.Bytes(), []byte(eol)) {
				out.WriteString(eol)
			}
			out.WriteString(eol)
		}
		out.Write(block)
		placed = true
	}
	prev, apart := 0, false
	for i, e := range exprs {
		end := len(data)
		if i+1 < len(exprs) {
			end = exprs[i+1].start
		}
		if i == 0 {
			out.Write(data[:e.start]) // blank lines before the first expression
		}
		switch {
		case !ours[i]:
			if apart && !bytes.HasSuffix(out.Bytes(), []byte(eol+eol)) {
				out.WriteString(eol) // a blank line after the block, before what follows
			}
			apart = false
			out.Write(data[e.start:end])
		case e.header && !placed:
			place()
			apart = true
		}
		prev = end
	}
	out.Write(data[prev:])
	if !placed {
		place()
	}
	return out.Bytes(), nil
}

func hasPrefix(path, prefix []string) bool {
	return len(path) >= len(prefix) && slices.Equal(path[:len(prefix)], prefix)
}

// checkSplice decodes the new file and checks that it is the old one with
// only key.aipaint replaced by entry: if the splice went wrong, nothing is
// written.
func checkSplice(oldRoot map[string]any, content []byte, key string, entry map[string]any) error {
	var got map[string]any
	if err := toml.Unmarshal(content, &got); err != nil {
		return fmt.Errorf("the merged file would not be valid TOML (%w): please report this", tomlError(err))
	}
	want := maps.Clone(oldRoot)
	servers := maps.Clone(asTable(want[key]))
	if servers == nil {
		servers = map[string]any{}
	}
	servers[ServerName] = entry
	want[key] = servers
	var norm map[string]any // entry as TOML decodes it ([]string → []any)
	b, err := toml.Marshal(want)
	if err == nil {
		err = toml.Unmarshal(b, &norm)
	}
	if err != nil {
		return fmt.Errorf("encode TOML: %w", err)
	}
	if !reflect.DeepEqual(norm, got) {
		return errors.New("merging the entry would change more than the aipaint entry: please report this")
	}
	return nil
}

func asTable(v any) map[string]any { m, _ := v.(map[string]any); return m }

// previewTOML is --print for Codex: the entry as it will be written, secret
// values hidden.
func previewTOML(c Client, entry, servers, root map[string]any, r *Result) error {
	shown := maps.Clone(entry)
	secret := secretSettings()
	if env := asTable(entry["env"]); env != nil {
		env = maps.Clone(env)
		for _, k := range slices.Sorted(maps.Keys(env)) {
			isSecret, known := secret[k]
			if s, _ := env[k].(string); (known && !isSecret) || isPlaceholder(s) {
				continue
			}
			env[k] = "<hidden: " + k + ">"
			r.Hidden = append(r.Hidden, k)
		}
		shown["env"] = env
	}
	if h := asTable(entry["http_headers"]); h != nil {
		h = maps.Clone(h)
		for _, k := range slices.Sorted(maps.Keys(h)) {
			h[k] = "<hidden: header " + k + ">"
			r.Hidden = append(r.Hidden, "header "+k)
		}
		shown["http_headers"] = h
	}
	var err error
	if r.Preview, err = tomlEntry(c, shown); err != nil {
		return err
	}
	for _, k := range slices.Sorted(maps.Keys(servers)) {
		if k != ServerName {
			r.NotShown = append(r.NotShown, "server "+fmt.Sprintf("%q", k))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(root)) {
		if k != c.key {
			r.NotShown = append(r.NotShown, "setting "+fmt.Sprintf("%q", k))
		}
	}
	return nil
}

// secretSettings says, for each AIPAINT_ setting, whether it is secret.
func secretSettings() map[string]bool {
	out := map[string]bool{}
	for _, s := range config.Settings {
		out[s.Name] = s.Secret
	}
	return out
}
