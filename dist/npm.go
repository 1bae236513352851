package main

import _ "embed"

// launcher is the main npm package's bin: it finds the platform package's
// binary and runs it with stdio, arguments, exit code and signals passed
// through. It never writes to stdout (stdout is the MCP protocol).
//
//go:embed launcher.js
var launcher []byte

// npmPackage is one npm package: its files, package.json included.
type npmPackage struct {
	Name    string
	Version string
	Files   []file
}

// tarball is the file name npm pack gives it.
func (p npmPackage) tarball() string { return p.Name + "-" + p.Version + ".tgz" }

// npmRepository is the repository field npm wants (git+https://….git).
func npmRepository(rel release) ordered {
	return ordered{{"type", "git"}, {"url", "git+" + rel.Repository + ".git"}}
}

// npmPackages are the main package aipaint-mcp (the launcher, pinned to one
// platform package per target as optional dependencies) and the platform
// packages, each holding only the binary. No install scripts: Bun does not
// run them, and nothing is downloaded at install time.
func npmPackages(rel release, bins map[string][]byte, readme []byte) []npmPackage {
	var pkgs []npmPackage
	optional := ordered{}
	for _, t := range targets {
		platform, arch := t.node()
		name := "aipaint-mcp-" + platform + "-" + arch
		optional = append(optional, kv{name, rel.Version})
		bin := "bin/" + t.exe()
		pj, err := pretty(ordered{
			{"name", name},
			{"version", rel.Version},
			{"description", "The " + platform + "-" + arch + " binary of aipaint-mcp, installed by the aipaint-mcp package: use that one."},
			{"repository", npmRepository(rel)},
			{"homepage", rel.Repository},
			{"os", []string{platform}},
			{"cpu", []string{arch}},
			{"files", []string{bin}},
			{"preferUnplugged", true},
		})
		if err != nil {
			panic(err) // only fixed strings: a bug
		}
		pkgs = append(pkgs, npmPackage{Name: name, Version: rel.Version, Files: []file{
			{Name: "package.json", Data: pj, Mode: 0o644},
			{Name: bin, Data: bins[t.String()], Mode: 0o755},
		}})
	}
	pj, err := pretty(ordered{
		{"name", "aipaint-mcp"},
		{"version", rel.Version},
		{"description", shortDescription},
		{"mcpName", rel.RegistryName},
		{"keywords", []string{"mcp", "mcp-server", "modelcontextprotocol", "text-to-image", "ai-painting", "AI绘画", "文生图"}},
		{"repository", npmRepository(rel)},
		{"homepage", rel.Repository},
		{"bugs", rel.Repository + "/issues"},
		{"bin", ordered{{"aipaint-mcp", "bin/aipaint-mcp.js"}}},
		{"files", []string{"bin/aipaint-mcp.js", "README.md"}},
		{"engines", ordered{{"node", ">=16"}}},
		{"optionalDependencies", optional},
	})
	if err != nil {
		panic(err)
	}
	pkgs = append([]npmPackage{{Name: "aipaint-mcp", Version: rel.Version, Files: []file{
		{Name: "package.json", Data: pj, Mode: 0o644},
		{Name: "bin/aipaint-mcp.js", Data: launcher, Mode: 0o755},
		{Name: "README.md", Data: readme, Mode: 0o644},
	}}}, pkgs...)
	return pkgs
}
