package config_test

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"aipaint-mcp/config"
	"aipaint-mcp/schema"
)

// env is a fake environment for FromEnv.
type env map[string]string

func (e env) get(name string) string { return e[name] }

func TestFromEnvDefaults(t *testing.T) {
	c, err := config.FromEnv(env{}.get)
	require.NoError(t, err)
	assert.Equal(t, "form", c.Format)
	assert.False(t, c.Sandbox)
	assert.Equal(t, 3*time.Second, c.SandboxDelay)
	assert.Equal(t, 50, c.MaxWaitSeconds)
	assert.Equal(t, 30*time.Second, c.RequestTimeout)
	assert.Equal(t, slog.LevelInfo, c.LogLevel)
	assert.False(t, c.LogJSON)
	assert.Empty(t, c.MetricsAddr)
	assert.Empty(t, c.AllowedOrigins)
	assert.Empty(t, c.AppKey)
	assert.Empty(t, c.AppSecret)
	assert.Empty(t, c.AppCode)
	assert.Empty(t, c.SubmitURL)
	assert.Empty(t, c.QueryURL)
	assert.Empty(t, c.HTTPToken)
}

func TestFromEnvBlankMeansDefault(t *testing.T) {
	e := env{}
	for _, s := range config.Settings {
		e[s.Name] = " \t "
	}
	c, err := config.FromEnv(e.get)
	require.NoError(t, err)
	def, err := config.FromEnv(env{}.get)
	require.NoError(t, err)
	assert.Equal(t, def, c)
}

// Claude Desktop passes an optional bundle field left empty as "" or as the
// unreplaced text ${user_config.NAME} (mcpb #250). Every setting must read
// either, alone or among others, exactly as if it were not set: its default,
// no "invalid setting" error, and Missing still naming what is required.
func TestFromEnvUnfilledBundleFieldsAreUnset(t *testing.T) {
	def, err := config.FromEnv(env{}.get)
	require.NoError(t, err)
	unset := []string{
		"",
		"${user_config.x}",
		"${user_config.app_secret}",
		"  ${user_config.daily_image_limit}\t",
		"${user_config.}",
		" \t ",
	}
	all := map[string]env{}
	for _, s := range config.Settings {
		for _, v := range unset {
			t.Run(s.Name+"="+v, func(t *testing.T) {
				c, err := config.FromEnv(env{s.Name: v}.get)
				require.NoError(t, err)
				assert.Equal(t, def, c)
				assert.Equal(t, def.Missing(), c.Missing())
				assert.Empty(t, config.Value(env{s.Name: v}.get, s.Name))
			})
			if all[v] == nil {
				all[v] = env{}
			}
			all[v][s.Name] = v
		}
		// The control: text that only looks like the placeholder is a value,
		// read as one (a different setting, or an error naming it).
		for _, v := range []string{"${user_config.x", "${user_config.x}x", "$user_config.x", "${user_config.a}${user_config.b}"} {
			t.Run(s.Name+"="+v+"/is-a-value", func(t *testing.T) {
				c, err := config.FromEnv(env{s.Name: v}.get)
				if err == nil {
					assert.NotEqual(t, def, c, "the setting was not read")
				} else {
					assert.ErrorContains(t, err, s.Name)
				}
				assert.Equal(t, v, config.Value(env{s.Name: v}.get, s.Name))
			})
		}
	}
	for v, e := range all {
		c, err := config.FromEnv(e.get)
		require.NoError(t, err, "every setting %q at once", v)
		assert.Equal(t, def, c)
	}

	// A bundle with only AppCode and the submit URL filled: the rest reach the
	// server as placeholders, and Missing names the query URL alone.
	c, err := config.FromEnv(env{
		config.AppKey: "${user_config.app_key}", config.AppSecret: "${user_config.app_secret}",
		config.AppCode: "code-1", config.SubmitURL: "https://api.example.com/submit",
		config.QueryURL: "${user_config.query_url}", config.DailyImageLimit: "",
		config.OutputDir: "${user_config.output_dir}", config.Sandbox: "${user_config.sandbox}",
	}.get)
	require.NoError(t, err)
	assert.Equal(t, []string{config.QueryURL}, c.Missing())
	assert.Empty(t, c.AppKey)
	assert.Equal(t, def.DailyImageLimit, c.DailyImageLimit)
	assert.Equal(t, def.OutputDir, c.OutputDir)
	assert.False(t, c.Sandbox)
}

func TestFromEnvValues(t *testing.T) {
	c, err := config.FromEnv(env{
		config.AppKey:         " key ",
		config.AppSecret:      "secret",
		config.AppCode:        "code",
		config.SubmitURL:      "https://api.example.com/submit",
		config.QueryURL:       "http://127.0.0.1:9000/query",
		config.RequestFormat:  "JSON",
		config.Sandbox:        "yes",
		config.SandboxDelay:   "250ms",
		config.MaxWaitSeconds: " 1 ",
		config.RequestTimeout: "1m",
		config.HTTPToken:      "tok",
		config.LogLevel:       "DEBUG",
	}.get)
	require.NoError(t, err)
	assert.Equal(t, "key", c.AppKey, "values are trimmed")
	assert.Equal(t, "secret", c.AppSecret)
	assert.Equal(t, "code", c.AppCode)
	assert.Equal(t, "https://api.example.com/submit", c.SubmitURL)
	assert.Equal(t, "http://127.0.0.1:9000/query", c.QueryURL)
	assert.Equal(t, "json", c.Format)
	assert.True(t, c.Sandbox)
	assert.Equal(t, 250*time.Millisecond, c.SandboxDelay)
	assert.Equal(t, 1, c.MaxWaitSeconds)
	assert.Equal(t, time.Minute, c.RequestTimeout)
	assert.Equal(t, "tok", c.HTTPToken)
	assert.Equal(t, slog.LevelDebug, c.LogLevel)
}

func TestFromEnvBooleans(t *testing.T) {
	for v, want := range map[string]bool{
		"1": true, "true": true, "TRUE": true, "yes": true, "on": true,
		"0": false, "false": false, "no": false, "Off": false, "": false,
	} {
		c, err := config.FromEnv(env{config.Sandbox: v}.get)
		require.NoError(t, err, v)
		assert.Equal(t, want, c.Sandbox, v)
	}
}

func TestFromEnvRanges(t *testing.T) {
	ok := []env{
		{config.MaxWaitSeconds: "1"},
		{config.MaxWaitSeconds: "3600"},
		{config.SandboxDelay: "0s"},
		{config.LogLevel: "warn"},
		{config.LogLevel: "error"},
		{config.RequestFormat: "form"},
	}
	for _, e := range ok {
		_, err := config.FromEnv(e.get)
		assert.NoError(t, err, e)
	}
}

// Every invalid value is reported by the name of its setting and never
// echoed: a secret pasted into the wrong variable must not reach a log.
func TestFromEnvInvalidValues(t *testing.T) {
	const marker = "abc-secret-value"
	tests := []struct {
		name, value string
	}{
		{config.MaxWaitSeconds, marker},
		{config.MaxWaitSeconds, "-1"},
		{config.MaxWaitSeconds, "0"},
		{config.MaxWaitSeconds, "3601"},
		{config.MaxWaitSeconds, "50s"},
		{config.RequestFormat, marker},
		{config.Sandbox, marker},
		{config.SandboxDelay, marker},
		{config.SandboxDelay, "-1s"},
		{config.RequestTimeout, marker},
		{config.RequestTimeout, "0s"},
		{config.RequestTimeout, "-30s"},
		{config.LogLevel, marker},
		{config.LogFormat, marker},
		{config.MetricsAddr, marker},
		{config.MetricsAddr, "9464"},
		{config.MetricsAddr, "127.0.0.1:" + marker},
		{config.MetricsAddr, "127.0.0.1:70000"},
		{config.SubmitURL, marker},
		{config.SubmitURL, "ftp://" + marker + "/submit"},
		{config.SubmitURL, "https://" + marker + ".example.com/submit?token=x"},
		{config.SubmitURL, "https://user:" + marker + "@api.example.com/submit"},
		{config.QueryURL, "https:///" + marker},
		{config.QueryURL, "https://:443/" + marker},
		{config.QueryURL, "//" + marker + "/query"},
		{config.QueryURL, "https://exa mple.com/" + marker},
	}
	for _, tt := range tests {
		t.Run(tt.name+"="+tt.value, func(t *testing.T) {
			_, err := config.FromEnv(env{tt.name: tt.value}.get)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.name)
			assert.NotContains(t, err.Error(), marker)
		})
	}
}

func TestFromEnvReportsEveryInvalidSetting(t *testing.T) {
	bad := env{
		config.MaxWaitSeconds: "bad-wait-1",
		config.RequestFormat:  "bad-format-2",
		config.Sandbox:        "bad-sandbox-3",
		config.SandboxDelay:   "bad-delay-4",
		config.RequestTimeout: "bad-timeout-5",
		config.LogLevel:       "bad-level-6",
		config.LogFormat:      "bad-format-9",
		config.MetricsAddr:    "bad-metrics-10",
		config.SubmitURL:      "ftp://bad-submit-7/b",
		config.QueryURL:       "bad-query-8",
	}
	_, err := config.FromEnv(bad.get)
	require.Error(t, err)
	for name, value := range bad {
		assert.Contains(t, err.Error(), name)
		assert.NotContains(t, err.Error(), value)
	}
}

func TestFromEnvURLs(t *testing.T) {
	tests := []struct {
		url     string
		wantErr string // "" = accepted
	}{
		{"https://api.example.com/submit", ""},
		{"HTTPS://api.example.com/submit", ""},
		{"http://localhost:8080/submit", ""},
		{"http://127.0.0.1:8080/submit", ""},
		{"http://[::1]:8080/submit", ""},
		{"http://api.example.com/submit", "must start with https:// (plain http:// is only for loopback"},
		{"http://10.0.0.2/submit", "must start with https:// (plain http:// is only for loopback"},
		{"https://api.example.com:8443/a/b", ""},
		{"ftp://api.example.com/submit", "must start with https://"},
		{"//api.example.com/submit", "must start with https://"},
		{"api.example.com/submit", "is not a URL"},
		{"https:///submit", "is not a URL"},
		{"https://:443/submit", "is not a URL"},
		{"https://api.example.com/submit?x=1", "must not have a query string"},
		{"https://user@api.example.com/submit", "must not contain user info"},
		{"https://user:pw@api.example.com/submit", "must not contain user info"},
	}
	for _, tt := range tests {
		for _, name := range []string{config.SubmitURL, config.QueryURL} {
			t.Run(name+"="+tt.url, func(t *testing.T) {
				_, err := config.FromEnv(env{name: tt.url}.get)
				if tt.wantErr == "" {
					assert.NoError(t, err)
					return
				}
				require.Error(t, err)
				assert.Contains(t, err.Error(), name+" "+tt.wantErr)
			})
		}
	}
}

func TestFromEnvAllowedOrigins(t *testing.T) {
	tests := []struct {
		value string
		want  []string
	}{
		{"", nil},
		{" , ,", nil},
		{"https://app.example.com", []string{"https://app.example.com"}},
		{"https://app.example.com/", []string{"https://app.example.com"}},
		{"HTTPS://App.Example.COM", []string{"https://app.example.com"}},
		{
			" https://a.example.com/ ,http://B.example:8080,, https://c.example// ",
			[]string{"https://a.example.com", "http://b.example:8080", "https://c.example"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			c, err := config.FromEnv(env{config.AllowedOrigins: tt.value}.get)
			require.NoError(t, err)
			assert.Equal(t, tt.want, c.AllowedOrigins)
		})
	}
}

func TestMissing(t *testing.T) {
	const (
		key    = config.AppKey
		secret = config.AppSecret
		code   = config.AppCode
	)
	credentials := key + " + " + secret + " (or " + code + ")"
	tests := []struct {
		key, secret, code bool
		want              []string // missing credentials, URLs aside
	}{
		{false, false, false, []string{credentials}},
		{true, false, false, []string{secret}},
		{false, true, false, []string{key}},
		{true, true, false, nil},
		{false, false, true, nil},
		{true, false, true, nil},
		{false, true, true, nil},
		{true, true, true, nil},
	}
	for _, tt := range tests {
		for _, urls := range []struct{ submit, query bool }{{false, false}, {true, false}, {false, true}, {true, true}} {
			name := fmt.Sprintf("key=%v,secret=%v,code=%v,submit=%v,query=%v", tt.key, tt.secret, tt.code, urls.submit, urls.query)
			t.Run(name, func(t *testing.T) {
				var c config.Config
				if tt.key {
					c.AppKey = "k"
				}
				if tt.secret {
					c.AppSecret = "s"
				}
				if tt.code {
					c.AppCode = "c"
				}
				if urls.submit {
					c.SubmitURL = "https://api.example.com/submit"
				}
				if urls.query {
					c.QueryURL = "https://api.example.com/query"
				}
				want := append([]string(nil), tt.want...)
				if !urls.submit {
					want = append(want, config.SubmitURL)
				}
				if !urls.query {
					want = append(want, config.QueryURL)
				}
				assert.Equal(t, want, c.Missing())
			})
		}
	}
}

func TestIsLoopbackHost(t *testing.T) {
	tests := map[string]bool{
		"localhost":        true,
		"LOCALHOST":        true,
		"127.0.0.1":        true,
		"127.1.2.3":        true,
		"::1":              true,
		"[::1]":            true,
		"::ffff:127.0.0.1": true,
		"":                 false,
		"0.0.0.0":          false,
		"::":               false,
		"[::]":             false,
		"192.168.1.5":      false,
		"10.0.0.1":         false,
		"example.com":      false,
		"localhost.evil":   false,
		"127.0.0.1.evil":   false,
		"evil-localhost":   false,
		"127.0.0.1:8080":   false, // a host, not host:port
	}
	for host, want := range tests {
		t.Run(host, func(t *testing.T) {
			assert.Equal(t, want, config.IsLoopbackHost(host))
		})
	}
}

func TestSettingsTable(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range config.Settings {
		assert.True(t, strings.HasPrefix(s.Name, "AIPAINT_"), s.Name)
		assert.NotEmpty(t, strings.TrimSpace(s.Help), s.Name)
		assert.False(t, seen[s.Name], "duplicate setting %s", s.Name)
		seen[s.Name] = true
		if s.Secret {
			assert.Empty(t, s.Default, "a secret has no default: %s", s.Name)
		}
	}

	// Every name constant has a row, and the secrets are marked as such.
	secret := map[string]bool{config.AppSecret: true, config.AppCode: true, config.HTTPToken: true, config.StoreURL: true, config.OAuthClientSecret: true}
	names := []string{
		config.AppKey, config.AppSecret, config.AppCode, config.SubmitURL, config.QueryURL,
		config.RequestFormat, config.Sandbox, config.SandboxDelay, config.MaxWaitSeconds,
		config.RequestTimeout, config.HTTPToken, config.AllowedOrigins, config.LogLevel,
		config.LogFormat, config.MetricsAddr, config.DataDir, config.OutputDir, config.Save, config.Preview, config.DedupWindow,
		config.DailyImageLimit, config.MaxImagesPerCall, config.TaskTimeout, config.CAFile,
		config.MaxConcurrency, config.TokensFile, config.StoreURL, config.Timezone,
		config.ShutdownGrace,
		config.PublicURL, config.OAuthIssuer, config.OAuthScopes, config.OAuthDefaultLimit,
		config.OAuthClientID, config.OAuthClientSecret, config.OAuthGroups, config.OAuthGroupsClaim,
	}
	assert.Len(t, config.Settings, len(names))
	for _, name := range names {
		assert.True(t, seen[name], "no row for %s", name)
	}
	for _, s := range config.Settings {
		assert.Equal(t, secret[s.Name], s.Secret, s.Name)
	}
}

func TestInvalidValuesFallBackToDefaults(t *testing.T) {
	c, err := config.FromEnv(env{
		config.MaxWaitSeconds: "lots", config.RequestFormat: "xml", config.SubmitURL: "http://api.example.com/x",
	}.get)
	require.Error(t, err)
	assert.Equal(t, 50, c.MaxWaitSeconds)
	assert.Equal(t, "form", c.Format)
	assert.Empty(t, c.SubmitURL, "an unusable URL is dropped, never used")
}

func TestStoreAndLimitSettings(t *testing.T) {
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

	c, err := config.FromEnv(env(nil))
	require.NoError(t, err)
	assert.True(t, c.Save)
	assert.False(t, c.Preview)
	assert.Equal(t, 10*time.Minute, c.DedupWindow)
	assert.Equal(t, new(100), c.DailyImageLimit)
	assert.Equal(t, 6, c.MaxImagesPerCall)
	assert.Equal(t, 10*time.Minute, c.TaskTimeout)
	assert.Equal(t, 8, c.MaxConcurrency)
	assert.True(t, filepath.IsAbs(c.DataDir), c.DataDir)
	assert.True(t, filepath.IsAbs(c.OutputDir), c.OutputDir)
	assert.Equal(t, "aipaint-mcp", filepath.Base(c.DataDir))
	assert.Equal(t, "aipaint-mcp", filepath.Base(c.OutputDir))

	dir := t.TempDir()
	home, err := os.UserHomeDir()
	require.NoError(t, err)
	c, err = config.FromEnv(env(map[string]string{
		config.DataDir: filepath.Join(dir, "数据 dir") + string(filepath.Separator), config.OutputDir: "~/图片",
		config.Save: "0", config.Preview: "1", config.DedupWindow: "0", config.DailyImageLimit: "0",
		config.MaxImagesPerCall: "2", config.TaskTimeout: "1h", config.MaxConcurrency: "1",
	}))
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, "数据 dir"), c.DataDir)
	assert.Equal(t, filepath.Join(home, "图片"), c.OutputDir)
	assert.False(t, c.Save)
	assert.True(t, c.Preview)
	assert.Zero(t, c.DedupWindow)
	assert.Nil(t, c.DailyImageLimit, "0 is no limit")
	assert.Equal(t, 2, c.MaxImagesPerCall)
	assert.Equal(t, time.Hour, c.TaskTimeout)
	assert.Equal(t, 1, c.MaxConcurrency)

	bad := map[string]string{
		config.DataDir: "relative/dir", config.OutputDir: "out", config.Save: "maybe",
		config.DedupWindow: "-1m", config.DailyImageLimit: "-3", config.MaxImagesPerCall: "7",
		config.TaskTimeout: "0", config.MaxConcurrency: "0",
	}
	c, err = config.FromEnv(env(bad))
	require.Error(t, err)
	for name, value := range bad {
		assert.Contains(t, err.Error(), name)
		if len(value) > 4 {
			assert.NotContains(t, err.Error(), value, "errors name settings, not values")
		}
	}
	assert.Equal(t, 6, c.MaxImagesPerCall, "an invalid value falls back to the default")
	assert.Equal(t, "aipaint-mcp", filepath.Base(c.DataDir))
}

func TestTeamSettings(t *testing.T) {
	c, err := config.FromEnv(env{}.get)
	require.NoError(t, err)
	assert.Empty(t, c.StoreURL)
	assert.Empty(t, c.TokensFile)
	assert.Same(t, time.Local, c.Location, "the day of the limits is the server's local day by default")
	assert.True(t, c.Save)

	dir := t.TempDir()
	c, err = config.FromEnv(env{
		config.StoreURL:   "postgres://aipaint:pw@db.internal:5432/aipaint?sslmode=require",
		config.TokensFile: filepath.Join(dir, "tokens.txt"),
		config.Timezone:   "Asia/Shanghai",
	}.get)
	require.NoError(t, err)
	assert.Equal(t, "postgres://aipaint:pw@db.internal:5432/aipaint?sslmode=require", c.StoreURL)
	assert.Equal(t, filepath.Join(dir, "tokens.txt"), c.TokensFile)
	assert.Equal(t, "Asia/Shanghai", c.Location.String())
	assert.False(t, c.Save, "team mode saves no images on a replica's disk unless asked")

	for _, v := range []string{"1", "yes"} {
		c, err = config.FromEnv(env{config.StoreURL: "postgresql://db/aipaint", config.Save: v}.get)
		require.NoError(t, err)
		assert.True(t, c.Save, "AIPAINT_SAVE=%s on a shared folder stays possible", v)
	}
	c, err = config.FromEnv(env{config.StoreURL: "postgres:///aipaint?host=/var/run/postgresql", config.Save: "0"}.get)
	require.NoError(t, err)
	assert.False(t, c.Save)
	assert.NotEmpty(t, c.StoreURL, "a Unix socket URL has no host")

	for _, tz := range []string{"UTC", "Europe/Paris", "America/Argentina/Buenos_Aires", "Local"} {
		c, err = config.FromEnv(env{config.Timezone: tz}.get)
		require.NoError(t, err, tz)
		assert.Equal(t, tz, c.Location.String())
	}

	// A relative or ~ path means the same file whatever the working folder later.
	c, err = config.FromEnv(env{config.TokensFile: "tokens.txt"}.get)
	require.NoError(t, err)
	wd, err := os.Getwd()
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(wd, "tokens.txt"), c.TokensFile)
	home, err := os.UserHomeDir()
	require.NoError(t, err)
	c, err = config.FromEnv(env{config.TokensFile: "~/team/tokens.txt"}.get)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(home, "team", "tokens.txt"), c.TokensFile)
}

func TestShutdownGrace(t *testing.T) {
	c, err := config.FromEnv(env{}.get)
	require.NoError(t, err)
	assert.Equal(t, 5*time.Second, c.ShutdownGrace)
	for v, want := range map[string]time.Duration{"0": 0, "0s": 0, "250ms": 250 * time.Millisecond, "45s": 45 * time.Second, "10m": config.MaxShutdownGrace} {
		c, err := config.FromEnv(env{config.ShutdownGrace: v}.get)
		require.NoError(t, err, v)
		assert.Equal(t, want, c.ShutdownGrace, v)
	}
	for _, v := range []string{"5", "-1s", "10m1s", "1h", "soon"} {
		c, err := config.FromEnv(env{config.ShutdownGrace: v}.get)
		require.Error(t, err, v)
		assert.ErrorContains(t, err, config.ShutdownGrace+" must be a duration from 0 to 10m")
		assert.Equal(t, 5*time.Second, c.ShutdownGrace, "%s: an invalid value falls back to the default", v)
	}
}

// A store URL may hold a password: errors name the setting, never the URL.
func TestStoreURLInvalid(t *testing.T) {
	const password = "pw-SECRET-91c"
	for _, v := range []string{
		"mysql://u:" + password + "@db/x",
		"https://u:" + password + "@db/x",
		"host=db user=u password=" + password,
		"postgres://u:" + password + "@db:port/x", // url.Parse fails, and its error would quote it
		"postgres://u:" + password + "@db/x",
		"//u:" + password + "@db/x",
	} {
		t.Run(v, func(t *testing.T) {
			c, err := config.FromEnv(env{config.StoreURL: v}.get)
			require.Error(t, err)
			assert.Contains(t, err.Error(), config.StoreURL+" must be a PostgreSQL URL")
			assert.NotContains(t, err.Error(), password)
			assert.ErrorIs(t, c.Invalid, err, "the paid tools refuse to run")
			assert.Empty(t, c.StoreURL, "an unusable URL is dropped, never used")
			assert.False(t, c.Save, "still team mode: nothing saved on this disk")
		})
	}
}

func TestTimezoneInvalid(t *testing.T) {
	for _, v := range []string{"Mars/Olympus", "Asia/../../etc/passwd", "+08:00", "CST-8x"} {
		c, err := config.FromEnv(env{config.Timezone: v}.get)
		require.Error(t, err, v)
		assert.Contains(t, err.Error(), config.Timezone+" must be an IANA time zone")
		assert.Same(t, time.Local, c.Location, "falls back to the local zone, and the paid tools refuse")
	}
}

func TestCheckTokens(t *testing.T) {
	both := env{config.HTTPToken: "a-shared-token-123456", config.TokensFile: "/etc/aipaint/tokens"}
	c, err := config.FromEnv(both.get)
	require.NoError(t, err, "not an invalid setting: stdio does not read either")
	err = c.CheckTokens()
	require.Error(t, err)
	assert.Contains(t, err.Error(), config.HTTPToken)
	assert.Contains(t, err.Error(), config.TokensFile)
	assert.NotContains(t, err.Error(), "a-shared-token-123456")

	for _, e := range []env{{}, {config.HTTPToken: "t"}, {config.TokensFile: "/f"}} {
		c, err := config.FromEnv(e.get)
		require.NoError(t, err)
		assert.NoError(t, c.CheckTokens())
	}
}

// The sign-in settings: read, normalised, and refused (by CheckTokens,
// which an HTTP server obeys) when invalid or incomplete.
func TestSignInSettings(t *testing.T) {
	c, err := config.FromEnv(env{}.get)
	require.NoError(t, err)
	assert.Empty(t, c.OAuthIssuer)
	assert.Equal(t, []string{"aipaint"}, c.OAuthScopes)
	assert.Nil(t, c.OAuthDefaultLimit)
	assert.Empty(t, c.Resource())
	assert.Nil(t, c.OAuthGroups, "anyone the provider signs in")
	assert.Equal(t, "groups", c.OAuthGroupsClaim)

	c, err = config.FromEnv(env{
		config.PublicURL: "https://Paint.Corp.Example:8443/", config.OAuthIssuer: "https://sso.corp.example/realms/corp",
		config.OAuthScopes: " aipaint  paint:draw ", config.OAuthDefaultLimit: "0",
		config.OAuthGroups: " /designers, Design Team ,,", config.OAuthGroupsClaim: "https://corp.example/groups",
	}.get)
	require.NoError(t, err)
	assert.Equal(t, "https://paint.corp.example:8443", c.PublicURL)
	assert.Equal(t, "https://paint.corp.example:8443/mcp", c.Resource())
	assert.Equal(t, "https://sso.corp.example/realms/corp", c.OAuthIssuer, "kept as written: iss must equal it")
	assert.Equal(t, []string{"aipaint", "paint:draw"}, c.OAuthScopes)
	require.NotNil(t, c.OAuthDefaultLimit)
	assert.Equal(t, 0, *c.OAuthDefaultLimit, "0: may sign in, may not draw")
	assert.Equal(t, []string{"/designers", "Design Team"}, c.OAuthGroups)
	assert.Equal(t, "https://corp.example/groups", c.OAuthGroupsClaim)
	assert.NoError(t, c.CheckTokens())

	good := env{config.PublicURL: "https://paint.example", config.OAuthIssuer: "https://sso.example/"}
	with := func(k, v string) env {
		e := env{}
		for a, b := range good {
			e[a] = b
		}
		e[k] = v
		return e
	}
	for _, tc := range []struct {
		name string
		env  env
		want string // in CheckTokens' error
	}{
		{"public URL with a path", with(config.PublicURL, "https://corp.example/paint"), config.PublicURL + " must be"},
		{"public URL with a query", with(config.PublicURL, "https://paint.example/?x=1"), config.PublicURL + " must be"},
		{"public URL with user info", with(config.PublicURL, "https://u:p@paint.example"), config.PublicURL + " must be"},
		{"public URL not http", with(config.PublicURL, "ftp://paint.example"), config.PublicURL + " must be"},
		{"public URL without host", with(config.PublicURL, "https://"), config.PublicURL + " must be"},
		{"issuer with a query", with(config.OAuthIssuer, "https://sso.example/?tenant=1"), config.OAuthIssuer + " must be"},
		{"issuer with a fragment", with(config.OAuthIssuer, "https://sso.example/#x"), config.OAuthIssuer + " must be"},
		{"issuer not a URL", with(config.OAuthIssuer, "sso.example"), config.OAuthIssuer + " must be"},
		{"scope with a quote", with(config.OAuthScopes, `aipaint "x`), config.OAuthScopes + " must be"},
		{"scope with a backslash", with(config.OAuthScopes, `a\b`), config.OAuthScopes + " must be"},
		{"scope not ASCII", with(config.OAuthScopes, "画图"), config.OAuthScopes + " must be"},
		{"default limit negative", with(config.OAuthDefaultLimit, "-1"), config.OAuthDefaultLimit + " must be"},
		{"default limit too big", with(config.OAuthDefaultLimit, "1000001"), config.OAuthDefaultLimit + " must be"},
		{"groups, all empty", with(config.OAuthGroups, " , "), config.OAuthGroups + " must be"},
		{"groups claim with a space", with(config.OAuthGroupsClaim, "my groups"), config.OAuthGroupsClaim + " must be"},
		{"groups without issuer", env{config.OAuthGroups: "/designers"}, config.OAuthGroups + " set but " + config.OAuthIssuer + " is not"},
		{"issuer without public URL", env{config.OAuthIssuer: "https://sso.example"}, config.PublicURL + " is not"},
		{"issuer and the shared token", with(config.HTTPToken, "a-shared-token-123456"), "static tokens for scripts go in " + config.TokensFile},
		{"client id without secret", with(config.OAuthClientID, "aipaint-rs"), config.OAuthClientSecret},
		{"client secret without id", with(config.OAuthClientSecret, "s3cret-value"), config.OAuthClientID},
		{"client id without issuer", env{config.OAuthClientID: "aipaint-rs"}, config.OAuthClientID + " set but " + config.OAuthIssuer + " is not"},
		{"default limit and scopes without issuer", env{config.OAuthDefaultLimit: "5", config.OAuthScopes: "x"}, config.OAuthScopes + " and " + config.OAuthDefaultLimit + " set but"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, invalid := config.FromEnv(tc.env.get)
			assert.NoError(t, invalid, "not an invalid setting for stdio, which reads none of them")
			err := c.CheckTokens()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			for _, secret := range []string{"a-shared-token-123456", "s3cret-value", "u:p"} {
				assert.NotContains(t, err.Error(), secret)
			}
		})
	}
	c, err = config.FromEnv(with(config.TokensFile, "/etc/aipaint/tokens").get)
	require.NoError(t, err)
	assert.NoError(t, c.CheckTokens(), "sign-in with a tokens file: static tokens for scripts")
	c, err = config.FromEnv(env{config.PublicURL: "https://paint.example"}.get)
	require.NoError(t, err)
	assert.NoError(t, c.CheckTokens(), "a public URL alone is harmless")
	assert.True(t, config.HTTPOnly(config.OAuthClientSecret))
	assert.True(t, config.HTTPOnly(config.OAuthGroups))
	assert.False(t, config.HTTPOnly(config.AppKey))
}

// The bounds config takes from schema's constants (people's tests tie a
// person's limit to AIPAINT_DAILY_IMAGE_LIMIT's).
func TestBoundsAgreeWithTheirTables(t *testing.T) {
	c, err := config.FromEnv(env{}.get)
	require.NoError(t, err)
	assert.Equal(t, schema.MaxNum, c.MaxImagesPerCall, "the default is the most the schema allows")
	assert.Equal(t, schema.DefaultMaxWaitSeconds, c.MaxWaitSeconds)

	_, err = config.FromEnv(env{config.MaxImagesPerCall: fmt.Sprint(schema.MaxNum)}.get)
	assert.NoError(t, err)
	_, err = config.FromEnv(env{config.MaxImagesPerCall: fmt.Sprint(schema.MaxNum + 1)}.get)
	assert.ErrorContains(t, err, fmt.Sprintf("%s must be a whole number between %d and %d", config.MaxImagesPerCall, schema.MinNum, schema.MaxNum))
}

// TestServeLogLevel: a stdio server logs at warn unless AIPAINT_LOG_LEVEL
// says otherwise (Continue shows its INFO lines as warnings); HTTP keeps
// info; an invalid value counts as unset.
func TestServeLogLevel(t *testing.T) {
	for _, tc := range []struct {
		env         string
		stdio, http slog.Level
	}{
		{"", slog.LevelWarn, slog.LevelInfo},
		{"info", slog.LevelInfo, slog.LevelInfo},
		{"debug", slog.LevelDebug, slog.LevelDebug},
		{"error", slog.LevelError, slog.LevelError},
		{"loud", slog.LevelWarn, slog.LevelInfo},
	} {
		c, _ := config.FromEnv(func(name string) string {
			if name == config.LogLevel {
				return tc.env
			}
			return ""
		})
		assert.Equal(t, tc.stdio, c.ServeLogLevel(true), "stdio, AIPAINT_LOG_LEVEL=%q", tc.env)
		assert.Equal(t, tc.http, c.ServeLogLevel(false), "http, AIPAINT_LOG_LEVEL=%q", tc.env)
	}
}

// TestLogFormatAndMetricsAddr: the accepted values of AIPAINT_LOG_FORMAT
// and AIPAINT_METRICS_ADDR, and that an invalid one says what is allowed
// and turns the feature off (text logs, no listener).
func TestLogFormatAndMetricsAddr(t *testing.T) {
	for _, tt := range []struct {
		format string
		json   bool
	}{{"text", false}, {"json", true}, {"JSON", true}} {
		c, err := config.FromEnv(env{config.LogFormat: tt.format}.get)
		require.NoError(t, err, tt.format)
		assert.Equal(t, tt.json, c.LogJSON, tt.format)
	}
	c, err := config.FromEnv(env{config.LogFormat: "yaml"}.get)
	require.Error(t, err)
	assert.Contains(t, err.Error(), config.LogFormat+" must be text or json")
	assert.False(t, c.LogJSON)

	for _, addr := range []string{"127.0.0.1:9464", ":9464", "[::1]:0", "metrics.internal:9100"} {
		c, err := config.FromEnv(env{config.MetricsAddr: addr}.get)
		require.NoError(t, err, addr)
		assert.Equal(t, addr, c.MetricsAddr)
	}
	c, err = config.FromEnv(env{config.MetricsAddr: "localhost"}.get)
	require.Error(t, err)
	assert.Contains(t, err.Error(), config.MetricsAddr+" must be host:port")
	assert.Empty(t, c.MetricsAddr)
}
