package main

import (
	"context"
	"flag"
	"fmt"
	"runtime"
	"strings"

	"aipaint-mcp/config"
	"aipaint-mcp/install"
)

// InstallCommand adds this binary (or npx) to an MCP client's config file.
type InstallCommand struct {
	process
	executable func() (string, error) // os.Executable; tests give a path
}

func (c *InstallCommand) Run(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("install", flag.ContinueOnError)
	clientName := fs.String("client", "", "the MCP client: "+strings.Join(install.ClientNames(), ", "))
	withEnv := fs.Bool("with-env", false, "copy the AIPAINT_ settings of this shell into the entry (VS Code prompts for secrets instead)")
	sandbox := fs.Bool("sandbox", false, "add --sandbox to the entry: try it without an account")
	printOnly := fs.Bool("print", false, "print the aipaint entry that would be written instead of writing it (secrets hidden, other servers left out)")
	configPath := fs.String("config", "", "write this config file instead of the client's usual one")
	npx := fs.Bool("npx", false, `start the server with "npx -y aipaint-mcp" (the npm package) instead of this binary's path`)
	remote := fs.String("url", "", "connect to a team server's streamable-HTTP endpoint (https://…/mcp) instead of starting this binary")
	tokenEnv := fs.String("token-env", "", "with --url: the environment variable the host reads the bearer token from when it connects")
	writeToken := fs.Bool("token", false, "with --token-env: write the token itself (that variable's value now) into the file, for hosts that cannot read it")
	open := fs.Bool("open", false, "cherry-studio: open the import link with the OS opener")
	if err := c.parseFlags(fs, args, nil); err != nil {
		return err
	}
	if *clientName == "" {
		fmt.Fprintf(c.stderr, "install needs --client: one of %s\n", strings.Join(install.ClientNames(), ", "))
		return errUsage
	}
	var exe string
	if !*npx && *remote == "" { // npx needs no binary here (npm brings it), nor a team server
		var err error
		if exe, err = c.executable(); err != nil {
			return fmt.Errorf("find this binary: %w", err)
		}
		if exe, err = install.ExecutablePath(exe); err != nil { // as invoked: a Homebrew link survives upgrades
			return fmt.Errorf("install: %w", err)
		}
	}
	opts := install.Options{
		Client: *clientName, ConfigPath: *configPath, Executable: exe, NPX: *npx,
		WithEnv: *withEnv, Sandbox: *sandbox, URL: *remote, TokenEnv: *tokenEnv, WriteToken: *writeToken,
		Platform: install.Platform{GOOS: runtime.GOOS, Getenv: c.getenv},
	}
	plan, err := install.Plan(opts)
	if err != nil {
		return fmt.Errorf("install: %w", err)
	}
	if *withEnv {
		if _, cfgErr := config.FromEnv(c.getenv); cfgErr != nil {
			fmt.Fprintf(c.stderr, "warning: settings in this environment are invalid and were copied as they are:\n%s\n", cfgErr)
		}
	}
	if *printOnly {
		_, _ = c.stdout.Write(plan.Preview)
		fmt.Fprint(c.stderr, install.PreviewNote(plan))
		return nil
	}
	if plan.Link != "" { // Cherry Studio: nothing to write
		install.Summary(c.stdout, plan)
		if *open && plan.Secret {
			// The opener's command line (xdg-open, open, rundll32) is
			// readable by every user of this machine.
			return fmt.Errorf("install: --open would pass the link, which holds a secret, on a command line that other users of this machine can read: open the printed link by hand, or paste the JSON")
		}
		if *open {
			if err := install.OpenCommand(runtime.GOOS, plan.Link).Run(); err != nil {
				return fmt.Errorf("install: open the link: %w (open it by hand, or paste the JSON)", err)
			}
		}
		return nil
	}
	if *open {
		return fmt.Errorf("install: --open is for cherry-studio, whose servers live in the app; %s reads a file", plan.Client.Title)
	}
	if err := install.Write(plan, nil); err != nil {
		return fmt.Errorf("install: %w", err)
	}
	install.Summary(c.stdout, plan)
	return nil
}
