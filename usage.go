package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"aipaint-mcp/app"
	"aipaint-mcp/config"
	"aipaint-mcp/people"
	"aipaint-mcp/store"
)

// UsageCommand prints the images each person submitted today and this
// month, from the task store, for whoever runs the account.
type UsageCommand struct{ process }

func (c *UsageCommand) Run(ctx context.Context, args []string) error {
	if err := c.parseFlags(flag.NewFlagSet("usage", flag.ContinueOnError), args, nil); err != nil {
		return err
	}
	cfg, err := config.FromEnv(c.getenv)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	st, setting, err := app.OpenStore(cfg, c.logger(cfg, slog.LevelWarn))
	if err != nil {
		return err
	}
	defer st.Close()
	spends, err := st.Spending(ctx)
	if err != nil {
		return fmt.Errorf("reading the task store (%s): %w", setting, err)
	}
	limits := map[string]int{}
	if cfg.TokensFile != "" {
		set, err := people.Load(cfg.TokensFile)
		if err != nil {
			return fmt.Errorf("%s: %w", config.TokensFile, err)
		}
		for _, p := range set.People() {
			if p.Limit != nil {
				limits[p.Name] = *p.Limit
			}
		}
	}
	printSpending(c.stdout, spends, cfg.DailyImageLimit, limits)
	return nil
}

// printSpending prints one line per person and the total. teamLimit is the
// daily limit of all of them (nil = none); limits are the personal ones
// (absent = none).
func printSpending(w io.Writer, spends []store.Spend, teamLimit *int, limits map[string]int) {
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
	if teamLimit != nil {
		team = fmt.Sprint(*teamLimit)
	}
	fmt.Fprintf(w, "%-24s %8d %8d %12s\n", "TOTAL", today, month, team)
}
