package tools

import (
	"fmt"
	"strings"
)

// HostRow is a host's row in the READMEs' hosts table: the same in both
// languages.
func HostRow(h Host) string {
	pictures := "—"
	if h.Images {
		pictures = "✅"
	}
	return fmt.Sprintf("| %s | `%s` | %s | %s |", h.Title, strings.Join(h.Names, "`, `"), pictures, h.Reads())
}

// Reads says (for the README's table) in words what the host's model gets of a result.
func (h Host) Reads() string {
	switch h.reads {
	case readsText:
		return "text"
	case readsStructured:
		return "structuredContent"
	}
	return "text + structuredContent"
}
