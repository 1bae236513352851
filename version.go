package main

import (
	"context"
	_ "embed"
	"fmt"
	"runtime/debug"
	"strings"
)

// VersionCommand prints the version line; it takes no flags.
type VersionCommand struct{ process }

func (c *VersionCommand) Run(context.Context, []string) error {
	fmt.Fprintln(c.stdout, versionLine())
	return nil
}

// embeddedVersion is the one source of the version: dist stamps the same file
// into every manifest, and a plain go build still knows it.
//
//go:embed VERSION
var embeddedVersion string

// Set by dist with -ldflags "-X main.version=... -X main.commit=... -X main.commitDate=...".
// A plain go build leaves them empty and they come from VERSION and the build info.
var (
	version    = ""
	commit     = ""
	commitDate = ""
)

// versionString is the version alone, as the MCP server reports it. A build
// from a tree with uncommitted changes says -dirty so it never passes for a release.
func versionString() string {
	if version != "" {
		return version
	}
	v := strings.TrimSpace(embeddedVersion)
	if _, _, dirty := vcsInfo(); dirty {
		v += "-dirty"
	}
	return v
}

// versionLine is what --version prints: the version, the commit and the
// commit's date (never the build's, so two builds of one commit agree).
func versionLine() string {
	c, d := commit, commitDate
	if c == "" {
		c, d, _ = vcsInfo()
	}
	if c == "" {
		c = "unknown"
	}
	if d == "" {
		d = "unknown"
	}
	return "aipaint-mcp " + versionString() + " (" + c + ", " + d + ")"
}

// vcsInfo reads what go build stamps from git: the short commit, its time
// and whether the tree had changes.
func vcsInfo() (rev, date string, dirty bool) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "", "", false
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
			if len(rev) > 7 {
				rev = rev[:7]
			}
		case "vcs.time":
			date = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	return rev, date, dirty
}
