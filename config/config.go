// Package config reads the AIPAINT_ settings. Its table of settings is the
// one place their names, defaults and meanings are written down: --help and
// the README come from it.
package config

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // AIPAINT_TIMEZONE on Windows and in minimal containers
	"unicode"

	"aipaint-mcp/schema"
)

// Setting documents one environment variable.
type Setting struct {
	Name    string
	Default string
	Secret  bool
	Help    string
}

// Names of the settings.
const (
	AppKey         = "AIPAINT_APP_KEY"
	AppSecret      = "AIPAINT_APP_SECRET"
	AppCode        = "AIPAINT_APP_CODE"
	SubmitURL      = "AIPAINT_SUBMIT_URL"
	QueryURL       = "AIPAINT_QUERY_URL"
	RequestFormat  = "AIPAINT_REQUEST_FORMAT"
	Sandbox        = "AIPAINT_SANDBOX"
	SandboxDelay   = "AIPAINT_SANDBOX_DELAY"
	MaxWaitSeconds = "AIPAINT_MAX_WAIT_SECONDS"
	RequestTimeout = "AIPAINT_REQUEST_TIMEOUT"
	HTTPToken      = "AIPAINT_HTTP_TOKEN"
	TokensFile     = "AIPAINT_HTTP_TOKENS_FILE"
	AllowedOrigins = "AIPAINT_ALLOWED_ORIGINS"
	LogLevel       = "AIPAINT_LOG_LEVEL"
	LogFormat      = "AIPAINT_LOG_FORMAT"
	MetricsAddr    = "AIPAINT_METRICS_ADDR"

	PublicURL         = "AIPAINT_PUBLIC_URL"
	OAuthIssuer       = "AIPAINT_OAUTH_ISSUER"
	OAuthScopes       = "AIPAINT_OAUTH_SCOPES"
	OAuthDefaultLimit = "AIPAINT_OAUTH_DEFAULT_LIMIT"
	OAuthClientID     = "AIPAINT_OAUTH_CLIENT_ID"
	OAuthClientSecret = "AIPAINT_OAUTH_CLIENT_SECRET"
	OAuthGroups       = "AIPAINT_OAUTH_GROUPS"
	OAuthGroupsClaim  = "AIPAINT_OAUTH_GROUPS_CLAIM"

	DataDir          = "AIPAINT_DATA_DIR"
	OutputDir        = "AIPAINT_OUTPUT_DIR"
	Save             = "AIPAINT_SAVE"
	Preview          = "AIPAINT_PREVIEW"
	DedupWindow      = "AIPAINT_DEDUP_WINDOW"
	DailyImageLimit  = "AIPAINT_DAILY_IMAGE_LIMIT"
	MaxImagesPerCall = "AIPAINT_MAX_IMAGES_PER_CALL"
	TaskTimeout      = "AIPAINT_TASK_TIMEOUT"
	CAFile           = "AIPAINT_CA_FILE"
	MaxConcurrency   = "AIPAINT_MAX_CONCURRENCY"
	StoreURL         = "AIPAINT_STORE_URL"
	Timezone         = "AIPAINT_TIMEZONE"
	ShutdownGrace    = "AIPAINT_SHUTDOWN_GRACE"
)

// Bounds of the whole-number settings that no other table gives; the
// number of images per call is schema's (MinNum to MaxNum).
const (
	MaxWaitSecondsLimit = 3600
	MaxDailyImageLimit  = 1_000_000 // images a day; people's limits are held to it too
	MaxConcurrencyLimit = 256
	// MaxShutdownGrace bounds AIPAINT_SHUTDOWN_GRACE: the slowest load
	// balancer health checks (30 s apart, 10 failures) notice a server
	// going within 5 minutes.
	MaxShutdownGrace = 10 * time.Minute
)

// Settings is the table of every AIPAINT_ setting.
var Settings = []Setting{
	{AppKey, "", false, "AppKey from Huawei Cloud Marketplace (我的云市场 > 已购买的服务 > 资源详情); used with AIPAINT_APP_SECRET to sign requests"},
	{AppSecret, "", true, "AppSecret that goes with AIPAINT_APP_KEY"},
	{AppCode, "", true, "AppCode for simple authentication (X-Apig-AppCode), used when AppKey/AppSecret are not set"},
	{SubmitURL, "", false, "request URL of AI绘画-提交请求, from the purchased API's page (https://...)"},
	{QueryURL, "", false, "request URL of AI绘画-查询结果, from the purchased API's page (https://...)"},
	{RequestFormat, "form", false, "request body encoding: form or json"},
	{Sandbox, "0", false, "1 = use the built-in sandbox upstream instead of the real API (no account, no cost)"},
	{SandboxDelay, "3s", false, "how long a sandbox task stays queued before its images are ready"},
	{MaxWaitSeconds, strconv.Itoa(schema.DefaultMaxWaitSeconds), false, "upper bound of wait_seconds (clients such as Claude Desktop give up on a call after 60 s)"},
	{RequestTimeout, "30s", false, "timeout of one HTTP request to the upstream"},
	{HTTPToken, "", true, "bearer token required on every HTTP/SSE request (required to listen on a non-loopback address, unless AIPAINT_HTTP_TOKENS_FILE or AIPAINT_OAUTH_ISSUER is set)"},
	{TokensFile, "", false, "instead of AIPAINT_HTTP_TOKEN, a file of the people allowed on HTTP/SSE, one NAME TOKEN [LIMIT] a line (LIMIT: their images a day); re-read on SIGHUP and when it changes"},
	{AllowedOrigins, "", false, "comma-separated browser origins allowed besides loopback ones, e.g. https://app.example.com"},
	{PublicURL, "", false, "the team server's public base URL, e.g. https://paint.corp.example (no path): with AIPAINT_OAUTH_ISSUER, the resource tokens are issued for is this URL + /mcp"},
	{OAuthIssuer, "", false, "sign-in: the issuer of the company's identity provider (OAuth 2.1 / OpenID Connect), e.g. https://sso.corp.example/realms/corp; HTTP/SSE requests then carry its access tokens, issued for AIPAINT_PUBLIC_URL/mcp"},
	{OAuthScopes, "aipaint", false, "sign-in: the scopes every access token must have, separated by spaces"},
	{OAuthDefaultLimit, "", false, "sign-in: images a day for a person who signs in and is not in AIPAINT_HTTP_TOKENS_FILE (empty = no personal limit, 0 = may sign in but not draw)"},
	{OAuthClientID, "", false, "sign-in, opaque (non-JWT) access tokens only: this server's client id at the provider's introspection endpoint"},
	{OAuthClientSecret, "", true, "the client secret that goes with AIPAINT_OAUTH_CLIENT_ID"},
	{OAuthGroups, "", false, "sign-in: if set, only people in one of these groups (comma-separated, as the provider writes them, e.g. /designers) or listed in AIPAINT_HTTP_TOKENS_FILE may sign in (empty = anyone the provider signs in)"},
	{OAuthGroupsClaim, "groups", false, "sign-in: the access token's claim that lists a person's groups (an array, or one string), for AIPAINT_OAUTH_GROUPS"},
	{LogLevel, "info", false, "log level on stderr: debug, info, warn or error (a stdio server logs at warn unless this is set: hosts such as Continue show its stderr as warnings)"},
	{LogFormat, "text", false, "log format on stderr: text (key=value) or json (one JSON object a line: time, level, msg, fields)"},
	{MetricsAddr, "", false, "host:port of a second listener serving Prometheus metrics at /metrics, e.g. 127.0.0.1:9464 (off when empty; never the MCP port; no token: keep it on a private address)"},
	{DataDir, "", false, "folder of the task store (default: aipaint-mcp under the user's config folder, e.g. ~/.config, ~/Library/Application Support, %AppData%)"},
	{OutputDir, "", false, "folder images are saved to (default: aipaint-mcp under the user's Pictures folder, or the home folder)"},
	{Save, "1", false, "1 = save every image to AIPAINT_OUTPUT_DIR; 0 = only return the URLs (when AIPAINT_STORE_URL is set and this is not, 0)"},
	{Preview, "0", false, "1 = add downscaled inline previews to results by default (the preview argument overrides it)"},
	{DedupWindow, "10m", false, "an identical request within this time returns the existing task instead of paying again (0 = off)"},
	{DailyImageLimit, "100", false, "at most this many images submitted per day (of AIPAINT_TIMEZONE), counted across processes (0 = no limit)"},
	{MaxImagesPerCall, strconv.Itoa(schema.MaxNum), false, fmt.Sprintf("upper bound of num, %d to %d", schema.MinNum, schema.MaxNum)},
	{TaskTimeout, "10m", false, "how long a pending task keeps being polled in the background"},
	{CAFile, "", false, "PEM file of extra CA certificates to trust (e.g. a corporate proxy's)"},
	{MaxConcurrency, "8", false, "at most this many upstream requests at once"},
	{StoreURL, "", true, "team mode: the PostgreSQL database several servers share for tasks, limits and deduplication, postgres://user:password@host:5432/db"},
	{Timezone, "", false, "time zone of the day the daily limits count, e.g. Asia/Shanghai or UTC (default: the server's local zone)"},
	{ShutdownGrace, "5s", false, "HTTP/SSE: after SIGTERM, how long /healthz answers 503 while everything else is still served, before the server stops accepting and finishes its calls (0 = stop accepting at once)"},
}

// Config is the parsed environment.
type Config struct {
	AppKey, AppSecret, AppCode string
	SubmitURL, QueryURL        string
	Format                     string
	Sandbox                    bool
	SandboxDelay               time.Duration
	MaxWaitSeconds             int
	RequestTimeout             time.Duration
	HTTPToken                  string
	TokensFile                 string // absolute path; "" = none
	AllowedOrigins             []string
	LogLevel                   slog.Level
	logLevelSet                bool   // AIPAINT_LOG_LEVEL was given (validly)
	LogJSON                    bool   // AIPAINT_LOG_FORMAT=json
	MetricsAddr                string // "" = no metrics listener

	// Sign-in (the HTTP transports as an OAuth resource server): off when
	// OAuthIssuer is "". PublicURL has no trailing slash; see Resource.
	PublicURL                        string
	OAuthIssuer                      string
	OAuthScopes                      []string
	OAuthDefaultLimit                *int // nil = no personal limit
	OAuthClientID, OAuthClientSecret string
	OAuthGroups                      []string // nil = anyone who signs in
	OAuthGroupsClaim                 string
	// signInInvalid: the sign-in settings FromEnv found invalid (not in
	// Invalid: stdio reads none of them); CheckTokens returns them.
	signInInvalid error
	// signInOnly names the sign-in settings given that mean nothing
	// without AIPAINT_OAUTH_ISSUER.
	signInOnly []string

	DataDir, OutputDir string
	Save, Preview      bool
	DedupWindow        time.Duration
	DailyImageLimit    *int // the account's images a day; nil = no limit (see accountLimit)
	MaxImagesPerCall   int
	TaskTimeout        time.Duration
	CAFile             string
	MaxConcurrency     int

	// StoreURL is the shared PostgreSQL store of team mode; "" = the file
	// store in DataDir. Location is the zone of the daily limits' day.
	StoreURL string
	Location *time.Location

	// ShutdownGrace is how long an HTTP server keeps serving after SIGTERM,
	// its /healthz answering 503, for the load balancers to notice.
	ShutdownGrace time.Duration

	// Invalid lists the settings FromEnv found invalid (it returns them
	// too): the server starts anyway, and the paid tools report them.
	Invalid error
}

// ServeLogLevel is the level of a server's log: AIPAINT_LOG_LEVEL when it
// is set, else warn for stdio and info for the HTTP transports. A stdio
// server's stderr is shown to the user by some hosts (Continue shows every
// line as a warning), and there is no operator watching it; an HTTP
// server's log is its operator's.
func (c Config) ServeLogLevel(stdio bool) slog.Level {
	if stdio && !c.logLevelSet {
		return slog.LevelWarn
	}
	return c.LogLevel
}

// FromEnv parses the settings. Errors name the setting, never its value. An
// invalid value is reported and replaced by its default (an invalid URL by
// nothing), so a server can still start and say what to fix.
func FromEnv(getenv func(string) string) (Config, error) {
	get := func(name string) string {
		if v := Value(getenv, name); v != "" {
			return v
		}
		return defaultOf(name)
	}
	var errs []error
	c := Config{
		AppKey:    get(AppKey),
		AppSecret: get(AppSecret),
		AppCode:   get(AppCode),
		HTTPToken: get(HTTPToken),
	}
	p := parser{get: get, errs: &errs}
	c.Format = parse(p, RequestFormat, "must be form or json", func(s string) (string, error) {
		s = strings.ToLower(s)
		if s != "form" && s != "json" {
			return "", errInvalid
		}
		return s, nil
	})
	c.Sandbox = parse(p, Sandbox, "must be 1 or 0", parseBool)
	c.SandboxDelay = parse(p, SandboxDelay, "must be a duration such as 3s or 500ms", durationAtLeast(0))
	c.RequestTimeout = parse(p, RequestTimeout, "must be a positive duration such as 30s", durationAtLeast(time.Millisecond))
	c.MaxWaitSeconds = parse(p, MaxWaitSeconds, fmt.Sprintf("must be a whole number of seconds between 1 and %d", MaxWaitSecondsLimit), intBetween(1, MaxWaitSecondsLimit))
	c.Save = parse(p, Save, "must be 1 or 0", parseBool)
	c.Preview = parse(p, Preview, "must be 1 or 0", parseBool)
	c.DedupWindow = parse(p, DedupWindow, "must be a duration such as 10m, or 0 to turn it off", durationAtLeast(0))
	c.DailyImageLimit = parse(p, DailyImageLimit, "must be a whole number, 0 for no limit", accountLimit)
	c.MaxImagesPerCall = parse(p, MaxImagesPerCall, fmt.Sprintf("must be a whole number between %d and %d", schema.MinNum, schema.MaxNum), intBetween(schema.MinNum, schema.MaxNum))
	c.TaskTimeout = parse(p, TaskTimeout, "must be a duration such as 10m", durationAtLeast(time.Second))
	c.MaxConcurrency = parse(p, MaxConcurrency, fmt.Sprintf("must be a whole number between 1 and %d", MaxConcurrencyLimit), intBetween(1, MaxConcurrencyLimit))
	c.CAFile = get(CAFile)
	c.TokensFile = parse(p, TokensFile, "must be a file path", filePath)
	c.Location = parse(p, Timezone, "must be an IANA time zone such as Asia/Shanghai or UTC", location)
	c.ShutdownGrace = parse(p, ShutdownGrace, fmt.Sprintf("must be a duration from 0 to %dm such as 5s (0 = stop accepting at once)", int(MaxShutdownGrace/time.Minute)), durationBetween(0, MaxShutdownGrace))
	c.signIn(p)
	if v := get(StoreURL); v != "" {
		// The URL may hold a password: the error never quotes it.
		if err := checkStoreURL(v); err != nil {
			errs = append(errs, fmt.Errorf("%s %w", StoreURL, err))
		} else {
			c.StoreURL = v
		}
		if Value(getenv, Save) == "" {
			// Replicas share no disk: the URLs are the images, unless
			// AIPAINT_SAVE=1 says AIPAINT_OUTPUT_DIR is a shared folder.
			c.Save = false
		}
	}
	c.DataDir = parse(p, DataDir, "must be an absolute folder path", folderOr(defaultDataDir))
	c.OutputDir = parse(p, OutputDir, "must be an absolute folder path", folderOr(defaultOutputDir))
	before := len(errs)
	c.LogLevel = parse(p, LogLevel, "must be debug, info, warn or error", func(s string) (slog.Level, error) {
		var l slog.Level
		return l, l.UnmarshalText([]byte(s))
	})
	c.logLevelSet = Value(getenv, LogLevel) != "" && len(errs) == before
	c.LogJSON = parse(p, LogFormat, "must be text or json", func(s string) (bool, error) {
		switch strings.ToLower(s) {
		case "text":
			return false, nil
		case "json":
			return true, nil
		}
		return false, errInvalid
	})
	c.MetricsAddr = parse(p, MetricsAddr, "must be host:port, e.g. 127.0.0.1:9464 or :9464", listenAddr)
	for _, o := range strings.Split(get(AllowedOrigins), ",") {
		if o = strings.TrimRight(strings.TrimSpace(o), "/"); o != "" {
			c.AllowedOrigins = append(c.AllowedOrigins, strings.ToLower(o))
		}
	}
	for name, dst := range map[string]*string{SubmitURL: &c.SubmitURL, QueryURL: &c.QueryURL} {
		if v := get(name); v != "" {
			if err := checkURL(v); err != nil {
				errs = append(errs, fmt.Errorf("%s %w", name, err))
				continue
			}
			*dst = v
		}
	}
	c.Invalid = errors.Join(errs...)
	return c, c.Invalid
}

// CheckTokens refuses AIPAINT_HTTP_TOKEN and AIPAINT_HTTP_TOKENS_FILE
// together (one shared token or a file of people, not both), the shared
// token with sign-in (static tokens then come from the tokens file), and
// sign-in settings that are invalid or incomplete. Only the HTTP
// transports read them; stdio has no use for any.
func (c Config) CheckTokens() error {
	if c.HTTPToken != "" && c.TokensFile != "" {
		return fmt.Errorf("both %s and %s are set: set %s for one shared token, or %s for a team, not both", HTTPToken, TokensFile, HTTPToken, TokensFile)
	}
	if err := c.SignInInvalid(); err != nil || c.OAuthIssuer == "" {
		return err
	}
	switch {
	case c.HTTPToken != "":
		return fmt.Errorf("both %s and %s are set: with sign-in, static tokens for scripts go in %s (NAME TOKEN [LIMIT] lines), not in one shared token", HTTPToken, OAuthIssuer, TokensFile)
	case c.PublicURL == "":
		return fmt.Errorf("%s is set but %s is not: the server's public base URL names the resource tokens are issued for", OAuthIssuer, PublicURL)
	case (c.OAuthClientID == "") != (c.OAuthClientSecret == ""):
		return fmt.Errorf("set both %s and %s (for opaque tokens' introspection), or neither", OAuthClientID, OAuthClientSecret)
	}
	return nil
}

// SignInInvalid says which sign-in settings are invalid, or given without
// AIPAINT_OAUTH_ISSUER (nil when none is); CheckTokens returns it too.
func (c Config) SignInInvalid() error {
	if c.signInInvalid != nil {
		return c.signInInvalid
	}
	if c.OAuthIssuer == "" && len(c.signInOnly) > 0 {
		return fmt.Errorf("%s set but %s is not: only sign-in uses them", strings.Join(c.signInOnly, " and "), OAuthIssuer)
	}
	return nil
}

// Resource is the canonical URI of the MCP endpoint (RFC 8707): the
// audience of the access tokens this server accepts.
func (c Config) Resource() string {
	if c.PublicURL == "" {
		return ""
	}
	return c.PublicURL + "/mcp"
}

// HTTPOnly reports whether only the HTTP transports read a setting: a
// client's stdio entry has no use for it.
func HTTPOnly(name string) bool {
	switch name {
	case HTTPToken, TokensFile, AllowedOrigins, PublicURL, OAuthIssuer, OAuthScopes, OAuthDefaultLimit, OAuthClientID, OAuthClientSecret, OAuthGroups, OAuthGroupsClaim:
		return true
	}
	return false
}

// signIn reads the sign-in settings. Their errors go to signInInvalid,
// not to Invalid: only the HTTP transports read them (and refuse to start,
// see CheckTokens), so they must not stop a desktop's paid tools. An
// invalid URL becomes "", an invalid scope list the default.
func (c *Config) signIn(p parser) {
	var errs []error
	p.errs = &errs
	c.PublicURL = parse(p, PublicURL, "must be the server's public base URL, https://host[:port], without a path, query or user info", publicURL)
	c.OAuthIssuer = parse(p, OAuthIssuer, "must be the identity provider's issuer URL, https://host[/path], without a query, fragment or user info", issuerURL)
	c.OAuthScopes = parse(p, OAuthScopes, "must be one or more OAuth scopes separated by spaces (printable ASCII, no quotes or backslashes)", scopeList)
	c.OAuthDefaultLimit = parse(p, OAuthDefaultLimit, fmt.Sprintf("must be a whole number of images a day from 0 to %d, or empty for no personal limit", MaxDailyImageLimit), personalLimit)
	c.OAuthClientID = p.get(OAuthClientID)
	c.OAuthClientSecret = p.get(OAuthClientSecret)
	c.OAuthGroups = parse(p, OAuthGroups, "must be group names separated by commas", groupList)
	c.OAuthGroupsClaim = parse(p, OAuthGroupsClaim, "must be the name of a claim, without spaces", claimName)
	c.signInInvalid = errors.Join(errs...)
	for _, name := range []string{OAuthScopes, OAuthDefaultLimit, OAuthClientID, OAuthClientSecret, OAuthGroups, OAuthGroupsClaim} {
		if p.get(name) != defaultOf(name) {
			c.signInOnly = append(c.signInOnly, name)
		}
	}
}

// publicURL is scheme://host[:port], without a trailing slash.
func publicURL(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Hostname() == "" || u.User != nil ||
		strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.HasSuffix(u.Host, ":") {
		return "", errInvalid
	}
	return u.Scheme + "://" + strings.ToLower(u.Host), nil
}

// issuerURL is an issuer identifier (RFC 8414 section 2): https (or http,
// which the server accepts on loopback only), no query or fragment. It is
// kept as written: the tokens' iss must equal it exactly.
func issuerURL(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Hostname() == "" || u.User != nil ||
		u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.ContainsAny(s, `"\`) {
		return "", errInvalid
	}
	return s, nil
}

// scopeList: scope tokens as RFC 6749 section 3.3 has them (printable
// ASCII but space, '"' and '\'), so that they can be quoted in a
// WWW-Authenticate challenge.
func scopeList(s string) ([]string, error) {
	scopes := strings.Fields(s)
	if len(scopes) == 0 {
		return nil, errInvalid
	}
	for _, sc := range scopes {
		for _, r := range sc {
			if r < 0x21 || r > 0x7e || r == '"' || r == '\\' {
				return nil, errInvalid
			}
		}
	}
	return scopes, nil
}

// groupList: the groups a person may be in to sign in; nil = any person.
func groupList(s string) ([]string, error) {
	var groups []string
	for _, g := range strings.Split(s, ",") {
		if g = strings.TrimSpace(g); g != "" {
			groups = append(groups, g)
		}
	}
	if s != "" && len(groups) == 0 {
		return nil, errInvalid
	}
	for _, g := range groups {
		if strings.ContainsFunc(g, unicode.IsControl) {
			return nil, errInvalid
		}
	}
	return groups, nil
}

// claimName: a JWT claim's name, as written (Auth0's are URLs).
func claimName(s string) (string, error) {
	if s == "" || strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return "", errInvalid
	}
	return s, nil
}

// personalLimit is a person's images a day: "" = no limit (nil), 0 = none may be drawn.
func personalLimit(s string) (*int, error) {
	if s == "" {
		return nil, nil
	}
	n, err := intBetween(0, MaxDailyImageLimit)(s)
	if err != nil {
		return nil, err
	}
	return &n, nil
}

// Value is the setting as the server reads it: trimmed, and "" (unset, so
// its default applies) when it is blank or an unfilled field of a Claude
// Desktop bundle. Claude Desktop passes an optional user_config field left
// empty either as "" or as the unreplaced text ${user_config.NAME} (mcpb
// issue #250); neither is a value anyone meant to set.
func Value(getenv func(string) string, name string) string {
	v := strings.TrimSpace(getenv(name))
	if rest, ok := strings.CutPrefix(v, "${user_config."); ok && strings.HasSuffix(rest, "}") && !strings.ContainsAny(rest[:len(rest)-1], "${}") {
		return ""
	}
	return v
}

var errInvalid = errors.New("invalid")

type parser struct {
	get  func(string) string
	errs *[]error
}

// parse reads one setting; on failure it records why and uses the default.
func parse[T any](p parser, name, rule string, f func(string) (T, error)) T {
	v, err := f(p.get(name))
	if err != nil {
		*p.errs = append(*p.errs, fmt.Errorf("%s %s", name, rule))
		v, _ = f(defaultOf(name))
	}
	return v
}

func defaultOf(name string) string {
	for _, s := range Settings {
		if s.Name == name {
			return s.Default
		}
	}
	return ""
}

func durationAtLeast(least time.Duration) func(string) (time.Duration, error) {
	return durationBetween(least, time.Duration(math.MaxInt64))
}

func durationBetween(lo, hi time.Duration) func(string) (time.Duration, error) {
	return func(s string) (time.Duration, error) {
		d, err := time.ParseDuration(s)
		if err != nil || d < lo || d > hi {
			return 0, errInvalid
		}
		return d, nil
	}
}

func intBetween(lo, hi int) func(string) (int, error) {
	return func(s string) (int, error) {
		n, err := strconv.Atoi(s)
		if err != nil || n < lo || n > hi {
			return 0, errInvalid
		}
		return n, nil
	}
}

// listenAddr accepts an address to listen on, host:port with a numeric
// port (an empty host is every interface), or "" for none.
func listenAddr(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", errInvalid
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return "", errInvalid
	}
	return s, nil
}

// accountLimit reads AIPAINT_DAILY_IMAGE_LIMIT into the code's one encoding
// of a limit, a *int with nil for none (as a person's limit in the tokens
// file): the setting's 0 ("no limit") becomes nil here, the one place it
// is read. A non-nil 0 would mean "nothing may be submitted", which the
// setting cannot say. Its way back out to the tool results is
// tools.wireUsage.
func accountLimit(s string) (*int, error) {
	n, err := intBetween(0, MaxDailyImageLimit)(s)
	if err != nil || n == 0 {
		return nil, err
	}
	return &n, nil
}

// folderOr accepts an absolute path (after expanding a leading ~) and uses
// def when the setting is empty.
func folderOr(def func() string) func(string) (string, error) {
	return func(s string) (string, error) {
		if s == "" {
			return def(), nil
		}
		if rest, ok := strings.CutPrefix(s, "~"); ok && (rest == "" || rest[0] == '/' || rest[0] == '\\') {
			if home, err := os.UserHomeDir(); err == nil {
				s = home + rest
			}
		}
		if !filepath.IsAbs(s) {
			return "", errInvalid
		}
		return filepath.Clean(s), nil
	}
}

const appFolder = "aipaint-mcp"

func defaultDataDir() string {
	if d, err := os.UserConfigDir(); err == nil {
		return filepath.Join(d, appFolder)
	}
	return filepath.Join(os.TempDir(), appFolder)
}

func defaultOutputDir() string {
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), appFolder, "images")
	}
	if fi, err := os.Stat(filepath.Join(home, "Pictures")); err == nil && fi.IsDir() {
		return filepath.Join(home, "Pictures", appFolder)
	}
	return filepath.Join(home, appFolder)
}

// filePath expands a leading ~ and makes the path absolute, so that it
// means the same file whatever the working folder later.
func filePath(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	if rest, ok := strings.CutPrefix(s, "~"); ok && (rest == "" || rest[0] == '/' || rest[0] == '\\') {
		if home, err := os.UserHomeDir(); err == nil {
			s = home + rest
		}
	}
	abs, err := filepath.Abs(s)
	if err != nil {
		return "", errInvalid
	}
	return abs, nil
}

// location is an IANA zone; "" is the server's local zone. The zones are
// built into the binary (time/tzdata): Windows and minimal containers have
// no zoneinfo of their own.
func location(s string) (*time.Location, error) {
	if s == "" {
		return time.Local, nil
	}
	return time.LoadLocation(s)
}

// checkStoreURL accepts a PostgreSQL URL. Its errors never quote the URL
// (nor url.Parse's error, which would).
func checkStoreURL(raw string) error {
	want := errors.New("must be a PostgreSQL URL: postgres://user:password@host:5432/database")
	u, err := url.Parse(raw)
	if err != nil {
		return want
	}
	switch strings.ToLower(u.Scheme) {
	case "postgres", "postgresql":
		return nil
	}
	return want
}

func parseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "1", "true", "yes", "on":
		return true, nil
	case "0", "false", "no", "off", "":
		return false, nil
	}
	return false, errors.New("not a boolean")
}

func checkURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Hostname() == "": // Hostname, not Host: "https://:443/x" has no host
		return errors.New("is not a URL: want https://host/path")
	case u.Scheme != "https" && u.Scheme != "http":
		return errors.New("must start with https://")
	case u.Scheme == "http" && !resolvesToLoopback(u.Hostname()):
		// The AppCode, prompts and signed requests would cross the network in clear text.
		return errors.New("must start with https:// (plain http:// is only for loopback test upstreams)")
	case u.RawQuery != "":
		return errors.New("must not have a query string (parameters go in the body)")
	case u.User != nil:
		return errors.New("must not contain user info")
	}
	return nil
}

// Missing lists the settings still needed to call the real API.
func (c Config) Missing() []string {
	var out []string
	switch {
	case c.AppKey != "" && c.AppSecret == "" && c.AppCode == "":
		out = append(out, AppSecret)
	case c.AppKey == "" && c.AppSecret != "" && c.AppCode == "":
		out = append(out, AppKey)
	case c.AppKey == "" && c.AppSecret == "" && c.AppCode == "":
		out = append(out, AppKey+" + "+AppSecret+" (or "+AppCode+")")
	}
	if c.SubmitURL == "" {
		out = append(out, SubmitURL)
	}
	if c.QueryURL == "" {
		out = append(out, QueryURL)
	}
	return out
}

// resolvesToLoopback reports whether host is loopback, by name or by every
// address it resolves to (a test upstream may have a name in /etc/hosts).
func resolvesToLoopback(host string) bool {
	if IsLoopbackHost(host) {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupHost(ctx, host)
	if err != nil || len(addrs) == 0 {
		return false
	}
	for _, a := range addrs {
		if !IsLoopbackHost(a) {
			return false
		}
	}
	return true
}

// IsLoopbackHost reports whether host (no port) is localhost or a loopback IP.
func IsLoopbackHost(host string) bool {
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
