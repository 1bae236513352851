package install

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"aipaint-mcp/config"
)

// cursorLink matches Cursor's install links: the web link (a README on
// GitHub shows only http(s) links) and the cursor:// deeplink it opens.
var cursorLink = regexp.MustCompile(`(?:https://cursor\.com/en/install-mcp|cursor://anysphere\.cursor-deeplink/mcp/install)\?[^\s)\x60]+`)

// The "Add to Cursor" links of both READMEs install what install --npx
// writes: npx -y aipaint-mcp, with the settings a user must fill in.
func TestREADMECursorInstallLink(t *testing.T) {
	cursor, err := Find("cursor")
	require.NoError(t, err)
	wantCmd, wantArgs := command(nil, cursor, Options{NPX: true, Platform: Platform{GOOS: "darwin"}})
	for _, file := range []string{"../README.md", "../README.zh-CN.md"} {
		t.Run(file, func(t *testing.T) {
			raw, err := os.ReadFile(file)
			require.NoError(t, err)
			links := cursorLink.FindAllString(string(raw), -1)
			require.NotEmpty(t, links, "no Cursor install link")
			var web, deep int
			for _, link := range links {
				if strings.HasPrefix(link, "https://") {
					web++
				} else {
					deep++
				}
			}
			assert.Positive(t, web, "a web link: GitHub does not render cursor:// links")
			assert.Positive(t, deep, "the deeplink, to paste where the web link does not open Cursor")
			for _, link := range links {
				u, err := url.Parse(link)
				require.NoError(t, err)
				q := u.Query()
				assert.Equal(t, "aipaint", q.Get("name"))
				assert.NotContains(t, u.RawQuery, "+", "a + in the query would reach Cursor as a space")
				b, err := base64.StdEncoding.DecodeString(q.Get("config"))
				require.NoError(t, err, "config is standard base64")
				var cfg struct {
					Command string            `json:"command"`
					Args    []string          `json:"args"`
					Env     map[string]string `json:"env"`
				}
				dec := json.NewDecoder(bytes.NewReader(b))
				dec.DisallowUnknownFields()
				require.NoError(t, dec.Decode(&cfg), string(b))
				assert.Equal(t, "npx", cfg.Command)
				assert.Equal(t, []string{"-y", "aipaint-mcp"}, cfg.Args)
				assert.Equal(t, wantCmd, cfg.Command, "the same as install --npx")
				assert.Equal(t, wantArgs, cfg.Args)
				want := []string{config.AppKey, config.AppSecret, config.SubmitURL, config.QueryURL}
				assert.Len(t, cfg.Env, len(want))
				for _, k := range want {
					v, ok := cfg.Env[k]
					assert.True(t, ok, "env has %s", k)
					assert.Empty(t, config.Value(func(string) string { return v }, k), "left for the user to fill in: %s", k)
				}
			}
		})
	}
}

// The Cherry Studio JSON of both READMEs' Hosts section is what
// install --client cherry-studio --npx prints, and what Cherry's importer reads.
func TestREADMECherryStudioJSON(t *testing.T) {
	r, err := Plan(Options{Client: "cherry-studio", NPX: true, Platform: Platform{GOOS: "linux", Getenv: func(string) string { return "" }}})
	require.NoError(t, err)
	var want struct {
		MCPServers map[string]cherryServer `json:"mcpServers"`
	}
	require.NoError(t, json.Unmarshal(r.Content, &want))
	block := regexp.MustCompile("(?s)```json\n(\\{\n  \"mcpServers\": \\{\n    \"aipaint\": \\{\n      \"name\".*?)```")
	for _, file := range []string{"../README.md", "../README.zh-CN.md"} {
		t.Run(file, func(t *testing.T) {
			raw, err := os.ReadFile(file)
			require.NoError(t, err)
			m := block.FindSubmatch(raw)
			require.NotNil(t, m, "no Cherry Studio JSON in the Hosts section")
			var got struct {
				MCPServers map[string]cherryServer `json:"mcpServers"`
			}
			dec := json.NewDecoder(bytes.NewReader(m[1]))
			dec.DisallowUnknownFields()
			require.NoError(t, dec.Decode(&got), string(m[1]))
			g, w := got.MCPServers[ServerName], want.MCPServers[ServerName]
			assert.Equal(t, w.Name, g.Name)
			assert.Equal(t, w.Type, g.Type)
			assert.Equal(t, w.Command, g.Command)
			assert.Equal(t, w.Args, g.Args)
			assert.Equal(t, len(w.Env), len(g.Env))
			for k := range w.Env {
				assert.Contains(t, g.Env, k)
			}
		})
	}
}
