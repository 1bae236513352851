package main

// registrySchema is the MCP Registry's server.json schema the entry follows.
const registrySchema = "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json"

// registryEntry is server.json for the official MCP Registry: the npm
// package and the bundle (with its SHA-256), both over stdio.
func registryEntry(rel release, bundleSHA256 string) ([]byte, error) {
	var env []ordered
	for _, s := range userSettings {
		e := ordered{
			{"name", s.Env},
			{"description", s.Description},
			{"isRequired", s.Required},
			{"isSecret", s.Sensitive},
		}
		switch s.Type {
		case "number", "boolean":
			e = append(e, kv{"format", s.Type})
		case "directory":
			e = append(e, kv{"format", "filepath"})
		}
		if s.Placeholder != "" {
			e = append(e, kv{"placeholder", s.Placeholder})
		}
		env = append(env, e)
	}
	stdio := ordered{{"type", "stdio"}}
	return pretty(ordered{
		{"$schema", registrySchema},
		{"name", rel.RegistryName},
		{"title", displayName},
		{"description", shortDescription},
		{"version", rel.Version},
		{"repository", ordered{{"url", rel.Repository}, {"source", "github"}}},
		{"websiteUrl", rel.Repository},
		{"packages", []ordered{
			{
				{"registryType", "npm"},
				{"registryBaseUrl", "https://registry.npmjs.org"},
				{"identifier", "aipaint-mcp"},
				{"version", rel.Version},
				{"transport", stdio},
				{"environmentVariables", env},
			},
			{
				{"registryType", "mcpb"},
				{"identifier", rel.DownloadBase + "/" + bundleFile(rel)},
				{"version", rel.Version},
				{"fileSha256", bundleSHA256},
				{"transport", stdio},
			},
		}},
	})
}
