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
