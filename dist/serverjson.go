package main

// registrySchema is the MCP Registry's server.json schema the entry follows.
const registrySchema = "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json"

// registryServer is server.json, its fields in the order the schema lists them.
type registryServer struct {
	Schema      string             `json:"$schema"`
	Name        string             `json:"name"`
	Title       string             `json:"title"`
	Description string             `json:"description"`
	Version     string             `json:"version"`
	Repository  registryRepository `json:"repository"`
	WebsiteURL  string             `json:"websiteUrl"`
	Packages    []registryPackage  `json:"packages"`
}

type registryRepository struct {
	URL    string `json:"url"`
	Source string `json:"source"`
}

// registryPackage is one way to install the server: the npm package (with
// its environment variables) or the bundle (with its hash).
type registryPackage struct {
	RegistryType         string        `json:"registryType"`
	RegistryBaseURL      string        `json:"registryBaseUrl,omitempty"`
	Identifier           string        `json:"identifier"`
	Version              string        `json:"version"`
	FileSHA256           string        `json:"fileSha256,omitempty"`
	Transport            transport     `json:"transport"`
	EnvironmentVariables []registryEnv `json:"environmentVariables,omitempty"`
}

type transport struct {
	Type string `json:"type"`
}

type registryEnv struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	IsRequired  bool   `json:"isRequired"`
	IsSecret    bool   `json:"isSecret"`
	Format      string `json:"format,omitempty"`
	Placeholder string `json:"placeholder,omitempty"`
}

// registryFormats are the registry's formats for the form's types; a string
// has none.
var registryFormats = map[string]string{"number": "number", "boolean": "boolean", "directory": "filepath"}

// registryEntry is server.json for the official MCP Registry: the npm
// package and the bundle (with its SHA-256), both over stdio.
func registryEntry(rel release, bundleSHA256 string) ([]byte, error) {
	var env []registryEnv
	for _, s := range userSettings {
		env = append(env, registryEnv{
			Name:        s.Env,
			Description: s.Description,
			IsRequired:  s.Required,
			IsSecret:    s.Sensitive,
			Format:      registryFormats[s.Type],
			Placeholder: s.Placeholder,
		})
	}
	stdio := transport{Type: "stdio"}
	return pretty(registryServer{
		Schema:      registrySchema,
		Name:        rel.RegistryName,
		Title:       displayName,
		Description: shortDescription,
		Version:     rel.Version,
		Repository:  registryRepository{URL: rel.Repository, Source: "github"},
		WebsiteURL:  rel.Repository,
		Packages: []registryPackage{
			{
				RegistryType:         "npm",
				RegistryBaseURL:      "https://registry.npmjs.org",
				Identifier:           "aipaint-mcp",
				Version:              rel.Version,
				Transport:            stdio,
				EnvironmentVariables: env,
			},
			{
				RegistryType: "mcpb",
				Identifier:   rel.DownloadBase + "/" + bundleFile(rel),
				Version:      rel.Version,
				FileSHA256:   bundleSHA256,
				Transport:    stdio,
			},
		},
	})
}
