package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"unicode/utf8"

	"aipaint-mcp/app"
	"aipaint-mcp/config"
	"aipaint-mcp/people"
	"aipaint-mcp/store"
)

// UsageCommand prints the images each person submitted today and this
// month, from the task store, for whoever runs the account. People who
// sign in are listed by the name the server gives them (their line of the
// tokens file, their verified email, or their sub).
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
	limits := map[string]*int{}
	if cfg.TokensFile != "" {
		set, err := people.Load(cfg.TokensFile)
		if err != nil {
			return fmt.Errorf("%s: %w", config.TokensFile, err)
		}
		for _, p := range set.People() {
			limits[p.Name] = p.Limit
		}
	}
	var others *int // of people not in the file: who signs in gets AIPAINT_OAUTH_DEFAULT_LIMIT
	if cfg.OAuthIssuer != "" {
		others = cfg.OAuthDefaultLimit
	}
	printSpending(c.stdout, spends, cfg.DailyImageLimit, limits, others)
	return nil
}

// printSpending prints one line per person and the total. teamLimit is the
// daily limit of all of them (nil = none); limits are the personal ones of
// the people listed (nil = none), others the limit of anyone else who has a
// name (nil = none).
func printSpending(w io.Writer, spends []store.Spend, teamLimit *int, limits map[string]*int, others *int) {
	width := 24 // names of signed-in people are emails: the column grows to the longest
	for _, s := range spends {
		width = max(width, utf8.RuneCountInString(s.Owner))
	}
	fmt.Fprintf(w, "%-*s %8s %8s %12s\n", width, "PERSON", "TODAY", "MONTH", "DAILY LIMIT")
	var today, month int
	for _, s := range spends {
		name := s.Owner
		if name == "" {
			name = "(no name)" // a desktop's own tasks, or from before the tokens file
		}
		n, listed := limits[s.Owner]
		if !listed && s.Owner != "" {
			n = others
		}
		limit := "-"
		if n != nil {
			limit = fmt.Sprint(*n)
		}
		fmt.Fprintf(w, "%-*s %8d %8d %12s\n", width, name, s.Today, s.Month, limit)
		today += s.Today
		month += s.Month
	}
	team := "-"
	if teamLimit != nil {
		team = fmt.Sprint(*teamLimit)
	}
	fmt.Fprintf(w, "%-*s %8d %8d %12s\n", width, "TOTAL", today, month, team)
}
