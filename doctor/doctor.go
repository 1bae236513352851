// Package doctor checks a setup end to end and says, for each problem, which
// setting to fix and how: settings, reaching the API (DNS, TCP, TLS), the
// clock, the credentials (by one free query, never a submit) and the folders.
package doctor

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"aipaint-mcp/client"
	"aipaint-mcp/config"
	"aipaint-mcp/oauth"
	"aipaint-mcp/people"
)

// Status is the outcome of one check.
type Status int

// Outcomes of a check. A skipped check depends on one that failed.
const (
	Pass Status = iota
	Fail
	Skip
)

// Check is one line of the report.
type Check struct {
	Name   string
	Status Status
	Detail string // what was found; never a secret
	Fix    string // what to do, in plain words, naming the setting (Fail only)
}

// ProbeTaskID is the made-up task id of the authentication query: a 201
// "task does not exist" answer proves the credentials without billing.
const ProbeTaskID = "aipaint-doctor-probe-0000"

// Options are what the checks run against.
type Options struct {
	Config    config.Config
	ConfigErr error  // from config.FromEnv: invalid settings
	Sandbox   string // the sandbox URL when checking the built-in sandbox

	Now        func() time.Time                                                  // default time.Now; also signs the query
	LookupHost func(ctx context.Context, host string) ([]string, error)          // default net.DefaultResolver
	Dial       func(ctx context.Context, network, addr string) (net.Conn, error) // default a net.Dialer
	Proxy      func(*http.Request) (*url.URL, error)                             // default http.ProxyFromEnvironment
	Timeout    time.Duration                                                     // per network step; default 10s

	// PingStore, with AIPAINT_STORE_URL set, asks the team server's
	// database whether it answers and its tables are up to date.
	PingStore func(ctx context.Context) error
}

func (o *Options) defaults() {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.LookupHost == nil {
		o.LookupHost = net.DefaultResolver.LookupHost
	}
	if o.Dial == nil {
		o.Dial = (&net.Dialer{}).DialContext
	}
	if o.Proxy == nil {
		o.Proxy = http.ProxyFromEnvironment
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
}

// Run performs every check, in order, and returns them.
func Run(ctx context.Context, o Options) []Check {
	o.defaults()
	var out []Check
	settings, roots := settingsChecks(o)
	out = append(out, settings...)
	reachable := map[string]bool{} // setting name -> its URL answered TCP (and TLS)
	for _, u := range urlSettings(o.Config) {
		checks, ok := reach(ctx, o, u, roots)
		out = append(out, checks...)
		for _, name := range u.names {
			reachable[name] = ok
		}
	}
	out = append(out, authChecks(ctx, o, roots, failed(settings), reachable[config.QueryURL])...)
	if o.Config.Save {
		out = append(out, folderCheck("输出文件夹 Output folder", config.OutputDir, o.Config.OutputDir, 0o755))
	}
	if o.Config.StoreURL == "" {
		out = append(out, folderCheck("数据文件夹 Data folder", config.DataDir, o.Config.DataDir, 0o700)) // the task store keeps prompts
	} else {
		out = append(out, storeCheck(ctx, o))
	}
	if o.Config.TokensFile != "" {
		out = append(out, tokensCheck(o.Config.TokensFile, o.Config.OAuthIssuer != ""))
	}
	if o.Config.OAuthIssuer != "" || o.Config.SignInInvalid() != nil {
		out = append(out, signInCheck(ctx, o, roots))
	}
	return out
}

// signInCheck reads the identity provider's metadata and key set as the
// server would at its first request.
func signInCheck(ctx context.Context, o Options, roots *x509.CertPool) Check {
	const name = "登录 Sign-in"
	if err := o.Config.CheckTokens(); err != nil {
		return Check{Name: name, Status: Fail, Detail: err.Error(), Fix: "fix the sign-in settings (see the README's Sign-in with the company's identity provider)"}
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	v, err := oauth.New(ctx, oauth.Options{
		Issuer: o.Config.OAuthIssuer, Resource: o.Config.Resource(), Scopes: o.Config.OAuthScopes,
		ClientID: o.Config.OAuthClientID, ClientSecret: o.Config.OAuthClientSecret, RootCAs: roots,
	})
	if err == nil {
		err = v.Prepare(ctx)
	}
	if err != nil {
		return Check{Name: name, Status: Fail, Detail: err.Error(),
			Fix: "check " + config.OAuthIssuer + ": it must be the provider's issuer exactly, its metadata reachable from this machine (" + config.CAFile + " for a private CA)"}
	}
	return Check{Name: name, Status: Pass, Detail: "the identity provider's metadata and key set read; tokens must be issued for " + o.Config.Resource()}
}

// storeCheck asks a team server's database whether it answers.
func storeCheck(ctx context.Context, o Options) Check {
	const name = "团队数据库 Team database"
	if o.PingStore == nil {
		return Check{Name: name, Status: Skip, Detail: "not checked"}
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	if err := o.PingStore(ctx); err != nil {
		return Check{Name: name, Status: Fail, Detail: err.Error(),
			Fix: "check " + config.StoreURL + ": the host, port, database, user and password, and that PostgreSQL accepts connections from this machine"}
	}
	return Check{Name: name, Status: Pass, Detail: config.StoreURL + " answers; its tables are up to date"}
}

// tokensCheck reads a team server's tokens file as the server would.
func tokensCheck(path string, signIn bool) Check {
	const name = "令牌文件 Tokens file"
	set, err := people.Load(path)
	if err != nil {
		return Check{Name: name, Status: Fail, Detail: err.Error(),
			Fix: "fix that line of " + config.TokensFile + " (NAME TOKEN [LIMIT], see the README's Over HTTP)"}
	}
	if n := set.SignInOnly(); n > 0 && !signIn {
		// The server starts (they are valid lines), but these people can
		// never get in: say so before they try.
		return Check{Name: name, Status: Fail, Detail: fmt.Sprintf("%d of %d people have no token (-), and sign-in is off", n, set.Len()),
			Fix: "set " + config.OAuthIssuer + " (see the README's Sign-in with the company's identity provider), or give them tokens"}
	}
	return Check{Name: name, Status: Pass, Detail: fmt.Sprintf("%d people", set.Len())}
}

func failed(cs []Check) bool {
	for _, c := range cs {
		if c.Status == Fail {
			return true
		}
	}
	return false
}

// Report writes the checks, one line each with its fix, and a verdict. It
// reports whether everything passed.
func Report(w io.Writer, checks []Check) bool {
	problems := 0
	for _, c := range checks {
		mark := "✓"
		switch c.Status {
		case Fail:
			mark = "✗"
			problems++
		case Skip:
			mark = "–"
		}
		fmt.Fprintf(w, "%s %s: %s\n", mark, c.Name, c.Detail)
		if c.Status == Fail && c.Fix != "" {
			fmt.Fprintf(w, "    → 修复 Fix: %s\n", c.Fix)
		}
	}
	if problems == 0 {
		fmt.Fprintln(w, "\n全部通过 All checks passed.")
		return true
	}
	fmt.Fprintf(w, "\n发现 %d 个问题 %d problem(s) found: fix them, restart the MCP client, and run aipaint-mcp doctor again.\n", problems, problems)
	return false
}

const whereToFind = "我的云市场 > 已购买的服务 > 资源详情 on Huawei Cloud Marketplace"

// settingsChecks reports invalid, missing and suspicious settings and the
// credential kind. It also loads AIPAINT_CA_FILE, which the network checks use.
func settingsChecks(o Options) ([]Check, *x509.CertPool) {
	const name = "设置 Settings"
	c := o.Config
	var out []Check
	if o.ConfigErr != nil {
		for _, line := range strings.Split(o.ConfigErr.Error(), "\n") {
			if line = strings.TrimSpace(line); line == "" {
				continue
			}
			setting, _, _ := strings.Cut(line, " ")
			out = append(out, Check{Name: name, Status: Fail, Detail: line,
				Fix: fmt.Sprintf("change %s in the env block of your MCP client's config (%s).", setting, strings.TrimPrefix(line, setting+" "))})
		}
	}
	for _, missing := range c.Missing() {
		if o.ConfigErr != nil && strings.Contains(o.ConfigErr.Error(), missing+" ") {
			continue // invalid, reported above
		}
		out = append(out, Check{Name: name, Status: Fail, Detail: missing + " is not set",
			Fix: fmt.Sprintf("set %s in the env block of your MCP client's config (values from %s), or run aipaint-mcp install --client NAME --with-env from a shell where it is set. To try without an account: --sandbox.", missing, whereToFind)})
	}
	for _, s := range []struct{ setting, value string }{{config.AppKey, c.AppKey}, {config.AppSecret, c.AppSecret}, {config.AppCode, c.AppCode}} {
		if problem := malformed(s.value); problem != "" {
			out = append(out, Check{Name: name, Status: Fail, Detail: s.setting + " " + problem,
				Fix: fmt.Sprintf("copy %s again from %s: exactly the value, nothing around it.", s.setting, whereToFind)})
		}
	}
	var roots *x509.CertPool
	if c.CAFile != "" {
		var err error
		if roots, err = client.LoadCAFile(c.CAFile); err != nil {
			out = append(out, Check{Name: name, Status: Fail, Detail: config.CAFile + ": " + err.Error(),
				Fix: "point " + config.CAFile + " at a readable PEM file of CA certificates, or unset it."})
		}
	}
	if !failed(out) {
		out = append(out, Check{Name: name, Status: Pass, Detail: describe(o)})
	}
	return out, roots
}

// malformed says what is wrong with a credential as pasted, or "".
func malformed(v string) string {
	switch {
	case v == "":
		return ""
	case strings.HasPrefix(v, "<") && strings.HasSuffix(v, ">"):
		return "still holds a placeholder"
	case strings.ContainsAny(v, " \t\r\n\"'“”‘’，"):
		return "contains spaces, quotes or other characters pasted along with it"
	}
	return ""
}

// describe says what is configured, without secrets: at most the first 4
// characters of the AppKey, nothing of the AppSecret or AppCode.
func describe(o Options) string {
	c := o.Config
	var b strings.Builder
	switch {
	case c.AppKey != "" && c.AppSecret != "":
		fmt.Fprintf(&b, "credentials: AppKey/AppSecret, signed SDK-HMAC-SHA256 (AppKey %s, AppSecret set)", keyHint(c.AppKey))
		if c.AppCode != "" {
			b.WriteString("; AIPAINT_APP_CODE is set too but not used")
		}
	case c.AppCode != "":
		b.WriteString("credentials: AppCode (X-Apig-AppCode header, set)")
	}
	fmt.Fprintf(&b, "; body format %s", c.Format)
	if o.Sandbox != "" {
		fmt.Fprintf(&b, "; built-in sandbox at %s (no account, no cost)", o.Sandbox)
	}
	return b.String()
}

func keyHint(k string) string {
	r := []rune(k)
	if len(r) <= 8 {
		return "set" // too short to show any of it
	}
	return string(r[:4]) + "…"
}

// target is one host:port and the settings whose URL points there.
type target struct {
	u     *url.URL
	names []string
}

func urlSettings(c config.Config) []target {
	var out []target
	for _, s := range []struct{ name, raw string }{{config.SubmitURL, c.SubmitURL}, {config.QueryURL, c.QueryURL}} {
		u, err := url.Parse(s.raw)
		if s.raw == "" || err != nil {
			continue
		}
		merged := false
		for i := range out {
			if out[i].u.Scheme == u.Scheme && out[i].u.Host == u.Host {
				out[i].names = append(out[i].names, s.name)
				merged = true
			}
		}
		if !merged {
			out = append(out, target{u: u, names: []string{s.name}})
		}
	}
	return out
}

func port(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if u.Scheme == "http" {
		return "80"
	}
	return "443"
}

// reach checks DNS, TCP and TLS for one host; ok means a request can get there.
func reach(ctx context.Context, o Options, t target, roots *x509.CertPool) ([]Check, bool) {
	host, settings := t.u.Hostname(), strings.Join(t.names, " / ")
	addr := net.JoinHostPort(host, port(t.u))
	fixURL := fmt.Sprintf("check %s: copy the request URL (请求地址) from the purchased API's page again", settings)
	var out []Check

	proxy, err := o.Proxy(&http.Request{URL: t.u})
	viaProxy := err == nil && proxy != nil
	if viaProxy {
		out = append(out, Check{Name: "网络 Network " + host, Status: Skip,
			Detail: fmt.Sprintf("requests go through the proxy %s (HTTPS_PROXY/HTTP_PROXY): DNS and TCP are checked for the proxy", proxy.Host)})
		addr, host = net.JoinHostPort(proxy.Hostname(), port(proxy)), proxy.Hostname()
		fixURL = "check the proxy settings (HTTPS_PROXY, HTTP_PROXY, NO_PROXY)"
	}

	if net.ParseIP(host) == nil {
		ctx, cancel := context.WithTimeout(ctx, o.Timeout)
		addrs, err := o.LookupHost(ctx, host)
		cancel()
		if err != nil || len(addrs) == 0 {
			out = append(out, Check{Name: "DNS " + host, Status: Fail, Detail: "the name does not resolve: " + netErr(err),
				Fix: fixURL + "; if it is right, check the network or DNS settings of this computer."})
			return out, false
		}
		out = append(out, Check{Name: "DNS " + host, Status: Pass, Detail: "resolves to " + strings.Join(addrs, ", ")})
	}

	dctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	conn, err := o.Dial(dctx, "tcp", addr)
	if err != nil {
		out = append(out, Check{Name: "TCP " + addr, Status: Fail, Detail: "cannot connect: " + netErr(err),
			Fix: fixURL + " (host and port); if it is right, a firewall or proxy may block it."})
		return out, false
	}
	defer conn.Close()
	out = append(out, Check{Name: "TCP " + addr, Status: Pass, Detail: "connected"})

	if t.u.Scheme != "https" || viaProxy {
		detail := "plain http: allowed only for loopback test upstreams"
		if t.u.Scheme == "https" {
			detail = "checked through the proxy by the authentication query"
		}
		out = append(out, Check{Name: "TLS " + t.u.Hostname(), Status: Skip, Detail: detail})
		return out, true
	}
	_ = conn.SetDeadline(time.Now().Add(o.Timeout))
	tc := tls.Client(conn, &tls.Config{ServerName: host, RootCAs: roots, MinVersion: tls.VersionTLS12})
	if err := tc.HandshakeContext(dctx); err != nil {
		fix := "the server's certificate is not trusted: behind a corporate proxy that inspects TLS, set " + config.CAFile + " to its CA certificate (PEM); also check the system clock"
		var ce *tls.CertificateVerificationError
		if !errors.As(err, &ce) {
			fix = fixURL + " (is it really https?)"
		}
		out = append(out, Check{Name: "TLS " + host, Status: Fail, Detail: "handshake failed: " + netErr(err), Fix: fix + "."})
		return out, false
	}
	st := tc.ConnectionState()
	out = append(out, Check{Name: "TLS " + host, Status: Pass, Detail: fmt.Sprintf("%s, certificate valid for %s", tls.VersionName(st.Version), host)})
	return out, true
}

func netErr(err error) string {
	if err == nil {
		return "no address"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err.Error()
}

// dateRecorder keeps the Date header of the last answer.
type dateRecorder struct {
	base http.RoundTripper
	mu   sync.Mutex
	date string
}

func (d *dateRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := d.base.RoundTrip(r)
	if err == nil {
		d.mu.Lock()
		d.date = resp.Header.Get("Date")
		d.mu.Unlock()
	}
	return resp, err
}

func (d *dateRecorder) last() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.date
}

// authChecks sends the one query that proves the credentials and reads the
// server clock from its answer. It never submits.
func authChecks(ctx context.Context, o Options, roots *x509.CertPool, badSettings, queryReachable bool) []Check {
	const clockName, authName = "时钟 Clock", "认证 Authentication"
	skip := func(why string) []Check {
		return []Check{{Name: clockName, Status: Skip, Detail: why}, {Name: authName, Status: Skip, Detail: why}}
	}
	switch {
	case badSettings:
		return skip("not checked until the settings above are fixed")
	case !queryReachable:
		return skip("not checked: " + config.QueryURL + " cannot be reached")
	}
	c := o.Config
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = o.Proxy
	tr.DialContext = o.Dial
	tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	rec := &dateRecorder{base: tr}
	defer tr.CloseIdleConnections()
	up, err := client.New(client.Config{
		SubmitURL: c.SubmitURL, QueryURL: c.QueryURL,
		AppKey: c.AppKey, AppSecret: c.AppSecret, AppCode: c.AppCode,
		Format: client.Format(c.Format),
		HTTPClient: &http.Client{Transport: rec,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		Now:            o.Now,
		RequestTimeout: min(c.RequestTimeout, o.Timeout+5*time.Second),
		QueryAttempts:  1,
	})
	if err != nil {
		return skip("not checked: " + err.Error())
	}
	_, qerr := up.Query(ctx, ProbeTaskID)
	var apiErr *client.APIError
	errors.As(qerr, &apiErr)

	clock, clockBad := clockCheck(o.Now(), rec.last(), apiErr)
	clock.Name = clockName
	auth := authCheck(up.AuthMode(), qerr, apiErr, clockBad)
	auth.Name = authName
	return []Check{clock, auth}
}

func clockCheck(now time.Time, date string, apiErr *client.APIError) (Check, bool) {
	const fix = "set this computer's clock right (turn on automatic time sync: Windows 设置 > 时间和语言, macOS 系统设置 > 通用 > 日期与时间, Linux timedatectl set-ntp true); the gateway rejects requests more than 15 minutes off."
	expired := apiErr != nil && apiErr.Expired // set by package client on the gateway's "request expired" (APIG.0303)
	server, err := http.ParseTime(date)
	if err != nil {
		if expired {
			return Check{Status: Fail, Detail: "the gateway says the request expired: the local clock is more than 15 minutes off", Fix: fix}, true
		}
		return Check{Status: Skip, Detail: "the server sent no Date header to compare with"}, false
	}
	skew := now.Sub(server).Round(time.Second)
	dir := "ahead of"
	if skew < 0 {
		dir = "behind"
	}
	if skew > client.MaxClockSkew || skew < -client.MaxClockSkew || expired {
		return Check{Status: Fail, Detail: fmt.Sprintf("the local clock is %s %s the server's (limit %s)", skew.Abs(), dir, client.MaxClockSkew), Fix: fix}, true
	}
	if skew.Abs() < 2*time.Second {
		return Check{Status: Pass, Detail: "in step with the server"}, false
	}
	return Check{Status: Pass, Detail: fmt.Sprintf("%s %s the server's, within the %s the gateway allows", skew.Abs(), dir, client.MaxClockSkew)}, false
}

func authCheck(mode string, qerr error, e *client.APIError, clockBad bool) Check {
	creds := config.AppKey + " and " + config.AppSecret
	if mode == "AppCode" {
		creds = config.AppCode
	}
	proved := fmt.Sprintf("%s accepted (a query for the made-up task %s answered", mode, ProbeTaskID)
	switch {
	case qerr == nil:
		return Check{Status: Pass, Detail: proved + " normally; nothing was submitted or billed)"}
	case e == nil:
		return Check{Status: Fail, Detail: "the query failed: " + qerr.Error(), Fix: "run again with AIPAINT_LOG_LEVEL=debug and report the output."}
	case e.Category == client.CategoryNotFound:
		return Check{Status: Pass, Detail: proved + " 201 task does not exist, as expected; nothing was submitted or billed)"}
	case e.Category == client.CategoryAuth && clockBad:
		return Check{Status: Skip, Detail: "the gateway refused the request because of the clock: fix the clock, then check again"}
	case e.Category == client.CategoryAuth:
		fix := fmt.Sprintf("copy %s again from %s (the AppSecret of the same app as the AppKey, no spaces).", creds, whereToFind)
		if mode == "AppCode" {
			fix = fmt.Sprintf("copy %s again from %s, or use %s and %s if this product does not allow simple authentication.", creds, whereToFind, config.AppKey, config.AppSecret)
		}
		return Check{Status: Fail, Detail: fmt.Sprintf("the gateway rejected the credentials (%s, HTTP %d)", orCode(e), e.HTTPStatus), Fix: fix}
	case e.Category == client.CategoryForbidden:
		return Check{Status: Fail, Detail: fmt.Sprintf("the app is not authorised for this API (%s)", orCode(e)),
			Fix: fmt.Sprintf("check on Huawei Cloud Marketplace that the package is bought and not expired, and that %s and %s are the URLs of that purchased API.", config.SubmitURL, config.QueryURL)}
	case e.Category == client.CategoryBadURL:
		return Check{Status: Fail, Detail: fmt.Sprintf("no such API at %s (%s)", config.QueryURL, orCode(e)),
			Fix: fmt.Sprintf("copy the request URL (请求地址) of AI绘画-查询结果 into %s again, and check %s the same way (its path is not checked: that would need a paid submit).", config.QueryURL, config.SubmitURL)}
	case e.Category == client.CategoryArguments:
		return Check{Status: Fail, Detail: fmt.Sprintf("the API did not read the task id (%s)", orCode(e)),
			Fix: fmt.Sprintf("switch %s (form ↔ json): this product may expect the other body format.", config.RequestFormat)}
	case e.Category == client.CategoryTransient:
		return Check{Status: Fail, Detail: "the service did not answer properly: " + e.Message,
			Fix: "nothing to change in the settings: try again in a few minutes."}
	}
	return Check{Status: Fail, Detail: "unexpected answer: " + e.Error(),
		Fix: "run again with AIPAINT_LOG_LEVEL=debug; quote the request_id to the API seller."}
}

func orCode(e *client.APIError) string {
	if e.GatewayCode != "" {
		return e.GatewayCode
	}
	if e.Code != 0 {
		return fmt.Sprintf("code %d", e.Code)
	}
	return e.Message
}

// folderCheck creates the folder if missing and writes and removes a probe file.
func folderCheck(name, setting, dir string, perm os.FileMode) Check {
	fix := fmt.Sprintf("set %s to a folder you can write to (an absolute path), or fix the permissions of %s.", setting, dir)
	if dir == "" {
		return Check{Name: name, Status: Fail, Detail: "no folder", Fix: fix}
	}
	if err := os.MkdirAll(dir, perm); err != nil {
		return Check{Name: name, Status: Fail, Detail: fmt.Sprintf("%s cannot be created: %v", dir, pathErr(err)), Fix: fix}
	}
	f, err := os.CreateTemp(dir, ".aipaint-doctor-*")
	if err != nil {
		return Check{Name: name, Status: Fail, Detail: fmt.Sprintf("%s is not writable: %v", dir, pathErr(err)), Fix: fix}
	}
	_, werr := f.WriteString("aipaint-mcp doctor probe\n")
	cerr := f.Close()
	rerr := os.Remove(f.Name())
	if err := errors.Join(werr, cerr, rerr); err != nil {
		return Check{Name: name, Status: Fail, Detail: fmt.Sprintf("%s: writing a file failed: %v", dir, pathErr(err)), Fix: fix}
	}
	return Check{Name: name, Status: Pass, Detail: dir + " is writable"}
}

// pathErr drops the path an *os.PathError repeats.
func pathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
