package cli

import (
	"fmt"
	"io"
	"strings"

	"aipaint-mcp/schema"
)

// Styles prints the style and resolution tables.
func Styles(w io.Writer) {
	fmt.Fprintf(w, "%-12s %-16s %-40s %s\n", "STYLE", "ENGLISH", "ALIASES", "LOOK")
	for _, s := range schema.Styles {
		fmt.Fprintf(w, "%-12s %-16s %-40s %s\n", s.Name, s.English, strings.Join(s.Aliases, ", "), s.Description)
	}
	fmt.Fprintf(w, "\n%-12s %-16s %s\n", "RESOLUTION", "ENGLISH", "ALIASES")
	for _, r := range schema.Resolutions {
		fmt.Fprintf(w, "%-12s %-16s %s\n", r.Value, r.English, strings.Join(r.Aliases, ", "))
	}
}
