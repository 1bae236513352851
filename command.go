package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"aipaint-mcp/config"
)

// process is what a command reads and writes: the process's streams and
// environment, or a test's.
type process struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

var (
	errHelpShown = errors.New("help shown")
	errUsage     = errors.New("usage error")
	errReported  = errors.New("failure already reported")
)

// parseFlags parses flags anywhere among the arguments (generate TEXT --sandbox
// works too) and handles --help and --version. Positional arguments go to pos.
func (p process) parseFlags(fs *flag.FlagSet, args []string, pos *[]string) error {
	showVersion := fs.Bool("version", false, "print the version")
	fs.SetOutput(p.stderr)
	fs.Usage = func() {} // asked-for help goes to stdout, below; flag errors stay on stderr
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				printUsage(p.stdout)
				fmt.Fprintf(p.stdout, "\nFlags of %s:\n", fs.Name())
				fs.SetOutput(p.stdout)
				fs.PrintDefaults()
				return errHelpShown
			}
			fmt.Fprintln(p.stderr, "run aipaint-mcp --help for usage")
			return errUsage
		}
		if *showVersion {
			fmt.Fprintln(p.stdout, versionLine())
			return errHelpShown
		}
		args = fs.Args()
		if len(args) == 0 {
			return nil
		}
		if pos == nil {
			fmt.Fprintf(p.stderr, "%s takes no arguments, got %q\n", fs.Name(), args[0])
			return errUsage
		}
		*pos = append(*pos, args[0])
		args = args[1:]
	}
}

// settings reads the configuration; sandbox is the command's --sandbox.
func (p process) settings(sandbox bool) (config.Config, error) {
	cfg, err := config.FromEnv(p.getenv)
	cfg.Sandbox = cfg.Sandbox || sandbox
	if err != nil {
		return cfg, fmt.Errorf("configuration: %w", err)
	}
	return cfg, nil
}

// logger logs to stderr only: stdout is the protocol in stdio mode, and a
// terminal command's output. cfg chooses the format (AIPAINT_LOG_FORMAT):
// key=value text, or one JSON object a line for a log collector.
func (p process) logger(cfg config.Config, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogJSON {
		return slog.New(slog.NewJSONHandler(p.stderr, opts))
	}
	return slog.New(slog.NewTextHandler(p.stderr, opts))
}
