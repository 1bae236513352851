package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"

	"aipaint-mcp/app"
	"aipaint-mcp/config"
	"aipaint-mcp/doctor"
	"aipaint-mcp/store"
)

// DoctorCommand checks the setup and says what to fix; it exits 1 when a
// check fails.
type DoctorCommand struct{ process }

func (c *DoctorCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	sandbox := fs.Bool("sandbox", false, "check against the built-in sandbox upstream (no account, no cost)")
	if err := c.parseFlags(fs, args, nil); err != nil {
		return err
	}
	cfg, cfgErr := config.FromEnv(c.getenv) // the raw list of problems: doctor gives each its own fix
	cfg.Sandbox = cfg.Sandbox || *sandbox
	opts := doctor.Options{Config: cfg, ConfigErr: cfgErr}
	if cfg.StoreURL != "" && !cfg.Sandbox {
		st, _, err := app.OpenStore(cfg, c.logger(cfg, slog.LevelError))
		switch {
		case err != nil:
			// A URL the server cannot use (say an unknown sslmode) makes the
			// paid tools refuse: the check fails with why, never skips.
			opts.PingStore = func(context.Context) error { return err }
		default:
			defer st.Close()
			if p, ok := st.(store.Pinger); ok {
				opts.PingStore = p.Ping
			}
		}
	}
	if cfg.Sandbox {
		sb, sbCfg, err := app.StartSandbox(cfg, c.logger(cfg, slog.LevelWarn))
		if err != nil {
			return err
		}
		defer sb.Close()
		opts.Config, opts.Sandbox = sbCfg, sb.URL()
	}
	fmt.Fprintln(c.stdout, "aipaint-mcp doctor: 检查配置 checking the setup")
	fmt.Fprintln(c.stdout)
	if !doctor.Report(c.stdout, doctor.Run(ctx, opts)) {
		return errReported
	}
	return nil
}
