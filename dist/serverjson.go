package main

import "aipaint-mcp/config"

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
// its environment variables), the bundle (with its hash) or the container
// image (its version in its tag: the registry refuses a version, a base URL
// or a hash on an oci package).
type registryPackage struct {
	RegistryType         string        `json:"registryType"`
	RegistryBaseURL      string        `json:"registryBaseUrl,omitempty"`
	Identifier           string        `json:"identifier"`
	Version              string        `json:"version,omitempty"`
	FileSHA256           string        `json:"fileSha256,omitempty"`
	RuntimeHint          string        `json:"runtimeHint,omitempty"`
	RuntimeArguments     []registryArg `json:"runtimeArguments,omitempty"`
	Transport            transport     `json:"transport"`
	EnvironmentVariables []registryEnv `json:"environmentVariables,omitempty"`
}

type transport struct {
	Type    string        `json:"type"`
	URL     string        `json:"url,omitempty"`
	Headers []registryEnv `json:"headers,omitempty"`
}

// registryEnv is an environment variable, or an HTTP header (with its value).
type registryEnv struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	IsRequired  bool   `json:"isRequired"`
	IsSecret    bool   `json:"isSecret"`
	Format      string `json:"format,omitempty"`
	Value       string `json:"value,omitempty"`
	Placeholder string `json:"placeholder,omitempty"`
}

// registryArg is a named argument of the runtime (docker run).
type registryArg struct {
	Type        string `json:"type"`
	Name        string `json:"name"`
	Value       string `json:"value"`
	Description string `json:"description"`
	IsRequired  bool   `json:"isRequired"`
}

// registryFormats are the registry's formats for the form's types; a string
// has none.
var registryFormats = map[string]string{"number": "number", "boolean": "boolean", "directory": "filepath"}

// registryEntry is server.json for the official MCP Registry: the npm
// package and the bundle (with its SHA-256), both over stdio, and the
// container image over streamable HTTP.
func registryEntry(rel release, bundleSHA256 string) ([]byte, error) {
	var env, imageEnv []registryEnv
	for _, s := range userSettings {
		e := registryEnv{
			Name:        s.Env,
			Description: s.Description,
			IsRequired:  s.Required,
			IsSecret:    s.Sensitive,
			Format:      registryFormats[s.Type],
			Placeholder: s.Placeholder,
		}
		env = append(env, e)
		if s.Env != config.OutputDir { // the image saves under /data
			imageEnv = append(imageEnv, e)
		}
	}
	imageEnv = append(imageEnv, registryEnv{
		Name:        config.HTTPToken,
		Description: "服务器要求的 Bearer 令牌（必填，容器不带令牌不会启动）。The bearer token every request must carry; the container does not start without one.",
		IsRequired:  true,
		IsSecret:    true,
	})
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
			{
				RegistryType: "oci",
				Identifier:   imageRef(rel),
				RuntimeHint:  "docker",
				RuntimeArguments: []registryArg{{
					Type: "named", Name: "-p", Value: imagePort + ":" + imagePort, IsRequired: true,
					Description: "Publish the port the server listens on",
				}},
				Transport: transport{
					Type: "streamable-http",
					URL:  "http://localhost:" + imagePort + "/mcp",
					Headers: []registryEnv{{
						Name:        "Authorization",
						Description: "The bearer token set as " + config.HTTPToken,
						IsRequired:  true,
						IsSecret:    true,
						Value:       "Bearer {" + config.HTTPToken + "}",
					}},
				},
				EnvironmentVariables: imageEnv,
			},
		},
	})
}
