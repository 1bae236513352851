// Command aipaint-mcp is an MCP server for the 聚美智数 AI绘画 text-to-image
// API on Huawei Cloud Marketplace. Each subcommand is a type with Run in the
// file named for it; this file only picks one.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}

// A command is one subcommand: Run gets the arguments after its name.
type command interface {
	Run(ctx context.Context, args []string) error
}

// run is main without the process: it returns the exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	name := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	p := process{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	var cmd command
	switch name {
	case "serve":
		cmd = &ServeCommand{p}
	case "generate":
		cmd = &GenerateCommand{p}
	case "styles":
		cmd = &StylesCommand{p}
	case "doctor":
		cmd = &DoctorCommand{p}
	case "usage":
		cmd = &UsageCommand{p}
	case "install":
		cmd = &InstallCommand{process: p, executable: os.Executable}
	case "help":
		cmd = &HelpCommand{p}
	case "version":
		cmd = &VersionCommand{p}
	default:
		fmt.Fprintf(stderr, "unknown command %q\n\n", name)
		printUsage(stderr)
		return 2
	}
	ctx := context.Background()
	if name != "serve" { // serve watches once it has answered (afterfirstanswer.go)
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
	}
	return exitCode(cmd.Run(ctx, args), stderr)
}

// exitCode is 0 for success or help, 2 for a usage error, else 1; an error
// not yet reported goes to stderr.
func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil, errors.Is(err, errHelpShown):
		return 0
	case errors.Is(err, errUsage):
		return 2
	case errors.Is(err, errReported):
		return 1
	}
	fmt.Fprintln(stderr, "aipaint-mcp:", err)
	return 1
}
