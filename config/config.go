// Package config reads the AIPAINT_ settings. Its table of settings is the
// one place their names, defaults and meanings are written down: --help and
// the README come from it.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
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
	AllowedOrigins = "AIPAINT_ALLOWED_ORIGINS"
	LogLevel       = "AIPAINT_LOG_LEVEL"
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
	{MaxWaitSeconds, "50", false, "upper bound of wait_seconds (clients such as Claude Desktop give up on a call after 60 s)"},
	{RequestTimeout, "30s", false, "timeout of one HTTP request to the upstream"},
	{HTTPToken, "", true, "bearer token required on every HTTP/SSE request (required to listen on a non-loopback address)"},
	{AllowedOrigins, "", false, "comma-separated browser origins allowed besides loopback ones, e.g. https://app.example.com"},
	{LogLevel, "info", false, "log level on stderr: debug, info, warn or error"},
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
	AllowedOrigins             []string
	LogLevel                   slog.Level
}

// FromEnv parses the settings. Errors name the setting, never its value.
func FromEnv(getenv func(string) string) (Config, error) {
	get := func(name string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		for _, s := range Settings {
			if s.Name == name {
				return s.Default
			}
		}
		return ""
	}
	var errs []error
	c := Config{
		AppKey:    get(AppKey),
		AppSecret: get(AppSecret),
		AppCode:   get(AppCode),
		SubmitURL: get(SubmitURL),
		QueryURL:  get(QueryURL),
		Format:    strings.ToLower(get(RequestFormat)),
		HTTPToken: get(HTTPToken),
	}
	if c.Format != "form" && c.Format != "json" {
		errs = append(errs, fmt.Errorf("%s must be form or json", RequestFormat))
	}
	var err error
	if c.Sandbox, err = parseBool(get(Sandbox)); err != nil {
		errs = append(errs, fmt.Errorf("%s must be 1 or 0", Sandbox))
	}
	if c.SandboxDelay, err = time.ParseDuration(get(SandboxDelay)); err != nil || c.SandboxDelay < 0 {
		errs = append(errs, fmt.Errorf("%s must be a duration such as 3s or 500ms", SandboxDelay))
	}
	if c.RequestTimeout, err = time.ParseDuration(get(RequestTimeout)); err != nil || c.RequestTimeout <= 0 {
		errs = append(errs, fmt.Errorf("%s must be a positive duration such as 30s", RequestTimeout))
	}
	if c.MaxWaitSeconds, err = strconv.Atoi(get(MaxWaitSeconds)); err != nil || c.MaxWaitSeconds < 1 || c.MaxWaitSeconds > 3600 {
		errs = append(errs, fmt.Errorf("%s must be a whole number of seconds between 1 and 3600", MaxWaitSeconds))
	}
	if err := c.LogLevel.UnmarshalText([]byte(get(LogLevel))); err != nil {
		errs = append(errs, fmt.Errorf("%s must be debug, info, warn or error", LogLevel))
	}
	for _, o := range strings.Split(get(AllowedOrigins), ",") {
		if o = strings.TrimRight(strings.TrimSpace(o), "/"); o != "" {
			c.AllowedOrigins = append(c.AllowedOrigins, strings.ToLower(o))
		}
	}
	for _, name := range []string{SubmitURL, QueryURL} {
		if v := get(name); v != "" {
			if err := checkURL(v); err != nil {
				errs = append(errs, fmt.Errorf("%s %w", name, err))
			}
		}
	}
	return c, errors.Join(errs...)
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

// PlainHTTPRemote reports whether an upstream URL is plain http to a
// non-loopback host, where credentials would cross the network unencrypted.
func (c Config) PlainHTTPRemote() bool {
	for _, raw := range []string{c.SubmitURL, c.QueryURL} {
		if u, err := url.Parse(raw); err == nil && u.Scheme == "http" && !IsLoopbackHost(u.Hostname()) {
			return true
		}
	}
	return false
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
