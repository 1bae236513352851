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

// packageJSON is an npm package's package.json, its fields in the order
// npm's documentation lists them; the platform packages leave out mcpName,
// keywords, bugs, bin, engines and optionalDependencies, the main package
// os, cpu and preferUnplugged.
type packageJSON struct {
	Name                 string            `json:"name"`
	Version              string            `json:"version"`
	Description          string            `json:"description"`
	MCPName              string            `json:"mcpName,omitempty"`
	Keywords             []string          `json:"keywords,omitempty"`
	Repository           repository        `json:"repository"`
	Homepage             string            `json:"homepage"`
	Bugs                 string            `json:"bugs,omitempty"`
	Bin                  map[string]string `json:"bin,omitempty"`
	OS                   []string          `json:"os,omitempty"`
	CPU                  []string          `json:"cpu,omitempty"`
	Files                []string          `json:"files"`
	PreferUnplugged      bool              `json:"preferUnplugged,omitempty"`
	Engines              map[string]string `json:"engines,omitempty"`
	OptionalDependencies map[string]string `json:"optionalDependencies,omitempty"`
}

// npmRepository is the repository field npm wants (git+https://….git).
func npmRepository(rel release) repository {
	return repository{Type: "git", URL: "git+" + rel.Repository + ".git"}
}

// npmPackages are the main package aipaint-mcp (the launcher, pinned to one
// platform package per target as optional dependencies) and the platform
// packages, each holding only the binary. No install scripts: Bun does not
// run them, and nothing is downloaded at install time.
func npmPackages(rel release, bins map[string][]byte, readme []byte) []npmPackage {
	top := packageJSON{
		Name:                 "aipaint-mcp",
		Version:              rel.Version,
		Description:          shortDescription,
		MCPName:              rel.RegistryName,
		Keywords:             []string{"mcp", "mcp-server", "modelcontextprotocol", "text-to-image", "ai-painting", "AI绘画", "文生图"},
		Repository:           npmRepository(rel),
		Homepage:             rel.Repository,
		Bugs:                 rel.Repository + "/issues",
		Bin:                  map[string]string{"aipaint-mcp": "bin/aipaint-mcp.js"},
		Files:                []string{"bin/aipaint-mcp.js", "README.md"},
		Engines:              map[string]string{"node": ">=16"},
		OptionalDependencies: map[string]string{},
	}
	pkgs := []npmPackage{{Name: top.Name, Version: rel.Version}}
	for _, t := range targets {
		platform, arch := t.node()
		name := "aipaint-mcp-" + platform + "-" + arch
		top.OptionalDependencies[name] = rel.Version
		bin := "bin/" + t.exe()
		pkgs = append(pkgs, npmPackage{Name: name, Version: rel.Version, Files: []file{
			{Name: "package.json", Data: mustPretty(packageJSON{
				Name:            name,
				Version:         rel.Version,
				Description:     "The " + platform + "-" + arch + " binary of aipaint-mcp, installed by the aipaint-mcp package: use that one.",
				Repository:      npmRepository(rel),
				Homepage:        rel.Repository,
				OS:              []string{platform},
				CPU:             []string{arch},
				Files:           []string{bin},
				PreferUnplugged: true,
			}), Mode: 0o644},
			{Name: bin, Data: bins[t.String()], Mode: 0o755},
		}})
	}
	pkgs[0].Files = []file{
		{Name: "package.json", Data: mustPretty(top), Mode: 0o644},
		{Name: "bin/aipaint-mcp.js", Data: launcher, Mode: 0o755},
		{Name: "README.md", Data: readme, Mode: 0o644},
	}
	return pkgs
}

// mustPretty is pretty for a document of strings, which always encodes.
func mustPretty(v any) []byte {
	b, err := pretty(v)
	if err != nil {
		panic(err) // only fixed strings: a bug
	}
	return b
}
