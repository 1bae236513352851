package install

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"os/exec"
)

// cherryLink is the scheme and path of Cherry Studio's import deep link
// (src/main/services/urlschema/mcp-install.ts): its "servers" parameter is
// the JSON of {"mcpServers": {...}}, in base64, which Cherry decodes with
// Buffer.from(data, "base64") after URLSearchParams has decoded the query.
const cherryLink = "cherrystudio://mcp/install?servers="

// planLink fills r for Cherry Studio, which keeps its servers inside the app:
// the JSON its "import JSON" dialog and its deep link accept, and the link.
// The JSON names the server (Cherry lists servers by "name") and carries the
// stdio command or the streamable-HTTP baseUrl, as its MCPServer type has them.
func planLink(c Client, o Options, r *Result) error {
	r.Created = true
	d, err := parseDoc(nil)
	if err != nil {
		return err
	}
	values, err := envValues(o, c, r, map[string]string{})
	if err != nil {
		return err
	}
	if err := render(d, c, o, values); err != nil {
		return err
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, d.bytes(), "", "  "); err != nil {
		return fmt.Errorf("format the JSON: %w", err)
	}
	pretty.WriteByte('\n')
	r.Content = pretty.Bytes()
	var compact bytes.Buffer
	if err := json.Compact(&compact, d.bytes()); err != nil {
		return fmt.Errorf("format the JSON: %w", err)
	}
	// Standard base64, query-escaped: a raw "+" would reach Cherry as a space.
	r.Link = cherryLink + url.QueryEscape(base64.StdEncoding.EncodeToString(compact.Bytes()))
	return preview(d, c, r)
}

// OpenCommand is the OS opener that hands link to the app registered for its
// scheme: open on macOS, the URL protocol handler on Windows, xdg-open elsewhere.
func OpenCommand(goos, link string) *exec.Cmd {
	switch goos {
	case "darwin":
		return exec.Command("open", link)
	case "windows":
		return exec.Command("rundll32", "url.dll,FileProtocolHandler", link)
	}
	return exec.Command("xdg-open", link)
}
