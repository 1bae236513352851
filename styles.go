package main

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"aipaint-mcp/schema"
)

// StylesCommand prints the style and resolution tables.
type StylesCommand struct{ process }

func (c *StylesCommand) Run(_ context.Context, args []string) error {
	if err := c.parseFlags(flag.NewFlagSet("styles", flag.ContinueOnError), args, nil); err != nil {
		return err
	}
	w := c.stdout
	fmt.Fprintf(w, "%-12s %-16s %-40s %s\n", "STYLE", "ENGLISH", "ALIASES", "LOOK")
	for _, s := range schema.Styles {
		fmt.Fprintf(w, "%-12s %-16s %-40s %s\n", s.Name, s.English, strings.Join(s.Aliases, ", "), s.Description)
	}
	fmt.Fprintf(w, "\n%-12s %-16s %s\n", "RESOLUTION", "ENGLISH", "ALIASES")
	for _, r := range schema.Resolutions {
		fmt.Fprintf(w, "%-12s %-16s %s\n", r.Value, r.English, strings.Join(r.Aliases, ", "))
	}
	return nil
}
