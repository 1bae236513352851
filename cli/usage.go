package cli

import (
	"fmt"
	"io"

	"aipaint-mcp/store"
)

// Usage prints the images each person submitted today and this month, for
// whoever runs the account. teamLimit is the daily limit of all of them
// (0 = none); limits are the personal ones (absent = none).
func Usage(w io.Writer, spends []store.Spend, teamLimit int, limits map[string]int) {
	fmt.Fprintf(w, "%-24s %8s %8s %12s\n", "PERSON", "TODAY", "MONTH", "DAILY LIMIT")
	var today, month int
	for _, s := range spends {
		name := s.Owner
		if name == "" {
			name = "(no name)" // a desktop's own tasks, or from before the tokens file
		}
		limit := "-"
		if n, ok := limits[s.Owner]; ok {
			limit = fmt.Sprint(n)
		}
		fmt.Fprintf(w, "%-24s %8d %8d %12s\n", name, s.Today, s.Month, limit)
		today += s.Today
		month += s.Month
	}
	team := "-"
	if teamLimit > 0 {
		team = fmt.Sprint(teamLimit)
	}
	fmt.Fprintf(w, "%-24s %8d %8d %12s\n", "TOTAL", today, month, team)
}
