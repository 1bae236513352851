package install

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// remoteForm is how a host's file names a streamable-HTTP server.
type remoteForm struct {
	urlKey string      // "url", "httpUrl" (Gemini CLI, Qwen Code), "serverUrl" (Windsurf), "baseUrl" (Cherry Studio)
	fields [][2]string // fixed members beside it: type "http", transport "http"
	// envRef is how a header value names an environment variable the host
	// expands when it connects ("${%s}", "${env:%s}"); "" when it cannot.
	envRef string
}

// transportKeys are the members of an entry that say how to reach the
// server: install sets those of the chosen transport and removes the others,
// so an entry switched from stdio to a team server (or back) is not both.
var transportKeys = []string{"type", "transport", "command", "args", "env", "url", "httpUrl", "serverUrl", "baseUrl", "headers"}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// checkRemote refuses the remote options a host cannot honour, and bad ones.
func checkRemote(c Client, o Options) error {
	if o.URL == "" {
		if o.TokenEnv != "" || o.WriteToken {
			return errors.New("--token-env and --token go with --url (a team server): a local server needs no token")
		}
		return nil
	}
	switch {
	case o.NPX || o.Sandbox || o.WithEnv:
		return errors.New("--url connects to a team server, which has its own settings: leave out --npx, --sandbox and --with-env")
	case c.remote == nil:
		return fmt.Errorf("%s cannot use a remote server: %s", c.Title, c.noRemote)
	}
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("--url %q is not an http(s) URL: want the team server's streamable-HTTP endpoint, like https://paint.example.com/mcp", o.URL)
	}
	if strings.HasSuffix(u.Path, "/sse") || strings.HasSuffix(u.Path, "/message") {
		return fmt.Errorf("--url %q is the SSE endpoint: install writes streamable HTTP, whose endpoint is /mcp", o.URL)
	}
	if u.User != nil {
		return errors.New("--url holds a user or password: pass the token with --token-env instead")
	}
	if o.TokenEnv == "" {
		if o.WriteToken {
			return errors.New("--token writes the value of the variable --token-env names: pass --token-env NAME too")
		}
		return nil
	}
	if !envName.MatchString(o.TokenEnv) {
		return fmt.Errorf("--token-env %q is not an environment variable name (letters, digits and _)", o.TokenEnv)
	}
	if o.WriteToken {
		if o.Platform.Getenv(o.TokenEnv) == "" {
			return fmt.Errorf("--token: %s is not set in this environment", o.TokenEnv)
		}
		return nil
	}
	if c.remote.envRef == "" && c.format != tomlFile {
		return fmt.Errorf("%s does not read environment variables in its headers, so it cannot take the token from %s when it connects. "+
			"Run again with --token to write the token (the value of %s now) into the file, in plain text", c.Title, o.TokenEnv, o.TokenEnv)
	}
	return nil
}

// field is one member of an entry, in the order install writes them.
type field struct {
	key   string
	value any
}

// transportFields are the members that make the entry reach the server:
// command and args (and the stdio "type" where the host wants one), or the
// remote form's URL, fixed members and bearer header.
func transportFields(oldArgs []string, c Client, o Options) []field {
	if o.URL == "" {
		var out []field
		if c.stdioType != "" {
			out = append(out, field{"type", c.stdioType})
		}
		cmd, args := command(oldArgs, c, o)
		out = append(out, field{"command", cmd})
		if args != nil {
			out = append(out, field{"args", args})
		}
		return out
	}
	var out []field
	for _, f := range c.remote.fields {
		out = append(out, field{f[0], f[1]})
	}
	out = append(out, field{c.remote.urlKey, o.URL})
	if o.TokenEnv != "" {
		out = append(out, field{"headers", map[string]string{"Authorization": "Bearer " + bearer(c, o)}})
	}
	return out
}

// bearer is the token as the file holds it: a reference the host expands,
// or (with --token) the value itself.
func bearer(c Client, o Options) string {
	if o.WriteToken {
		return o.Platform.Getenv(o.TokenEnv)
	}
	return fmt.Sprintf(c.remote.envRef, o.TokenEnv)
}
