package doctor_test

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"aipaint-mcp/config"
	"aipaint-mcp/doctor"
	"aipaint-mcp/oauth/oauthtest"
	"aipaint-mcp/sandbox"
	"aipaint-mcp/sandbox/sandboxtest"
)

const secret = "doctor-test-secret-value-9f8e7d"

// setup is one doctor run against a loopback upstream.
type setup struct {
	env  map[string]string
	opts doctor.Options
}

func newSetup(t *testing.T, upstream string) *setup {
	t.Helper()
	dir := t.TempDir()
	return &setup{
		env: map[string]string{
			config.AppKey:        sandbox.AppKey,
			config.AppSecret:     sandbox.AppSecret,
			config.SubmitURL:     upstream + sandbox.SubmitPath,
			config.QueryURL:      upstream + sandbox.QueryPath,
			config.OutputDir:     filepath.Join(dir, "我的 图片", "out put"),
			config.DataDir:       filepath.Join(dir, "数据 data"),
			config.LogLevel:      "debug",
			config.RequestFormat: "form",
		},
		opts: doctor.Options{Proxy: func(*http.Request) (*url.URL, error) { return nil, nil }},
	}
}

// run parses the environment as the command does, runs every check and
// returns them with the report.
func (s *setup) run(t *testing.T) ([]doctor.Check, string, bool) {
	t.Helper()
	cfg, cfgErr := config.FromEnv(func(k string) string { return s.env[k] })
	s.opts.Config, s.opts.ConfigErr = cfg, cfgErr
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	checks := doctor.Run(ctx, s.opts)
	var b bytes.Buffer
	ok := doctor.Report(&b, checks)
	out := b.String()
	t.Log("\n" + out)
	for _, v := range []string{secret, sandbox.AppSecret, "sandbox-app"} {
		assert.NotContains(t, out, v, "a secret or more than 4 characters of a key in the report")
	}
	return checks, out, ok
}

// find returns the check named like prefix, failing the test if absent.
func find(t *testing.T, checks []doctor.Check, prefix string) doctor.Check {
	t.Helper()
	for _, c := range checks {
		if strings.HasPrefix(c.Name, prefix) {
			return c
		}
	}
	t.Fatalf("no check %q in %+v", prefix, checks)
	return doctor.Check{}
}

func failures(checks []doctor.Check) []doctor.Check {
	var out []doctor.Check
	for _, c := range checks {
		if c.Status == doctor.Fail {
			out = append(out, c)
		}
	}
	return out
}

func TestAllGoodOnTheSandbox(t *testing.T) {
	sb := sandboxtest.Start(t)
	s := newSetup(t, sb.URL)
	checks, out, ok := s.run(t)
	assert.True(t, ok, out)
	assert.Empty(t, failures(checks))
	assert.Contains(t, out, "✓ 认证 Authentication")
	assert.Contains(t, out, "AppKey sand…", "the first 4 characters of the key, no more")
	assert.Contains(t, out, "全部通过 All checks passed")
	st := sb.Stats()
	assert.Equal(t, int64(0), st.Submits, "doctor never submits")
	assert.Equal(t, int64(0), st.BilledImages)
	assert.Equal(t, int64(1), st.Queries, "one query proves the credentials")
	for _, k := range []string{config.OutputDir, config.DataDir} {
		entries, err := os.ReadDir(s.env[k])
		require.NoError(t, err, "the folder is created")
		assert.Empty(t, entries, "the probe file is removed")
	}
}

func TestMissingKey(t *testing.T) {
	sb := sandboxtest.Start(t)
	s := newSetup(t, sb.URL)
	delete(s.env, config.AppKey)
	checks, out, ok := s.run(t)
	assert.False(t, ok)
	f := failures(checks)
	require.Len(t, f, 1, out)
	assert.Equal(t, "AIPAINT_APP_KEY is not set", f[0].Detail)
	assert.Contains(t, f[0].Fix, "set AIPAINT_APP_KEY in the env block")
	assert.Equal(t, doctor.Skip, find(t, checks, "认证").Status)
	assert.Equal(t, int64(0), sb.Stats().Queries, "nothing is sent with incomplete settings")
}

func TestWrongSecret(t *testing.T) {
	sb := sandboxtest.Start(t)
	s := newSetup(t, sb.URL)
	s.env[config.AppSecret] = secret
	checks, out, ok := s.run(t)
	assert.False(t, ok)
	f := failures(checks)
	require.Len(t, f, 1, out)
	assert.True(t, strings.HasPrefix(f[0].Name, "认证"), f[0].Name)
	assert.Contains(t, f[0].Detail, "APIG.0303")
	assert.Contains(t, f[0].Fix, "copy AIPAINT_APP_KEY and AIPAINT_APP_SECRET again")
	assert.Equal(t, doctor.Pass, find(t, checks, "时钟").Status)
	assert.Equal(t, int64(1), sb.Stats().AuthFailures)
	assert.Equal(t, int64(0), sb.Stats().Submits)
}

func TestWrongAppCode(t *testing.T) {
	s := newSetup(t, sandboxtest.Start(t).URL)
	delete(s.env, config.AppKey)
	delete(s.env, config.AppSecret)
	s.env[config.AppCode] = secret
	checks, out, _ := s.run(t)
	f := failures(checks)
	require.Len(t, f, 1, out)
	assert.Contains(t, f[0].Fix, "copy AIPAINT_APP_CODE again")
}

func TestWrongURLPath(t *testing.T) {
	sb := sandboxtest.Start(t)
	s := newSetup(t, sb.URL)
	s.env[config.QueryURL] = sb.URL + "/ai/paint/qeury"
	checks, out, ok := s.run(t)
	assert.False(t, ok)
	f := failures(checks)
	require.Len(t, f, 1, out)
	assert.Contains(t, f[0].Detail, "no such API at AIPAINT_QUERY_URL (APIG.0101)")
	assert.Contains(t, f[0].Fix, "into AIPAINT_QUERY_URL again")
	assert.Equal(t, int64(0), sb.Stats().Submits)
}

func TestUnreachableURL(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := "http://" + ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there now
	s := newSetup(t, closed)
	checks, out, ok := s.run(t)
	assert.False(t, ok)
	f := failures(checks)
	require.Len(t, f, 1, out)
	assert.True(t, strings.HasPrefix(f[0].Name, "TCP "), f[0].Name)
	assert.Contains(t, f[0].Fix, "check AIPAINT_SUBMIT_URL / AIPAINT_QUERY_URL")
	assert.Equal(t, doctor.Skip, find(t, checks, "认证").Status)
}

func TestUnresolvableHost(t *testing.T) {
	s := newSetup(t, "")
	s.env[config.SubmitURL] = "https://api.aipaint.invalid/submit"
	s.env[config.QueryURL] = "https://api.aipaint.invalid/query"
	s.opts.LookupHost = func(context.Context, string) ([]string, error) {
		return nil, &net.DNSError{Err: "no such host", Name: "api.aipaint.invalid", IsNotFound: true}
	}
	s.opts.Dial = func(context.Context, string, string) (net.Conn, error) {
		t.Error("dialled after DNS failed")
		return nil, errors.New("no")
	}
	checks, out, ok := s.run(t)
	assert.False(t, ok)
	dns := find(t, checks, "DNS api.aipaint.invalid")
	assert.Equal(t, doctor.Fail, dns.Status, out)
	assert.Contains(t, dns.Fix, "check AIPAINT_SUBMIT_URL / AIPAINT_QUERY_URL")
}

const clockFix = "set this computer's clock right"

func TestSkewedClockRejectedByTheGateway(t *testing.T) {
	sb := sandboxtest.Start(t)
	s := newSetup(t, sb.URL)
	s.opts.Now = func() time.Time { return time.Now().Add(20 * time.Minute) }
	checks, out, ok := s.run(t)
	assert.False(t, ok)
	f := failures(checks)
	require.Len(t, f, 1, out)
	assert.True(t, strings.HasPrefix(f[0].Name, "时钟"), f[0].Name)
	assert.Contains(t, f[0].Detail, "ahead of the server's")
	assert.Contains(t, f[0].Fix, clockFix)
	assert.Equal(t, doctor.Skip, find(t, checks, "认证").Status, "credentials are not blamed for the clock")
	assert.Equal(t, int64(1), sb.Stats().AuthFailures)
}

func TestSkewedServerDate(t *testing.T) {
	// An upstream whose Date is 30 minutes behind us but that accepts the
	// request: the clock still fails, the credentials pass.
	now := time.Now().Truncate(time.Second) // Date has whole seconds: a pinned clock makes the skew exact
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", now.Add(-30*time.Minute).UTC().Format(http.TimeFormat))
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"code":201,"msg":"taskId不存在","taskNo":"1"}`))
	}))
	t.Cleanup(srv.Close)
	s := newSetup(t, srv.URL)
	s.opts.Now = func() time.Time { return now }
	checks, out, ok := s.run(t)
	assert.False(t, ok)
	clock := find(t, checks, "时钟")
	assert.Equal(t, doctor.Fail, clock.Status, out)
	assert.Contains(t, clock.Detail, "30m0s ahead of the server's")
	assert.Contains(t, clock.Fix, clockFix)
	assert.Equal(t, doctor.Pass, find(t, checks, "认证").Status)
}

func TestGatewaySkewErrorWithoutDate(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Date"] = nil // no Date header: only the message tells
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error_code":"APIG.0303","error_msg":"Incorrect app authentication information: request expired","request_id":"r1"}`))
	}))
	t.Cleanup(srv.Close)
	s := newSetup(t, srv.URL)
	checks, out, ok := s.run(t)
	assert.False(t, ok)
	clock := find(t, checks, "时钟")
	assert.Equal(t, doctor.Fail, clock.Status, out)
	assert.Contains(t, clock.Fix, clockFix)
	assert.Equal(t, doctor.Skip, find(t, checks, "认证").Status)
}

// An auth failure that merely mentions "expired" (an expired token, not the
// gateway's clock check) is not a clock problem: only APIError.Expired says so.
func TestExpiredWordIsNotAClockError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error_code":"APIG.0399","error_msg":"app token expired","request_id":"r1"}`))
	}))
	t.Cleanup(srv.Close)
	s := newSetup(t, srv.URL)
	checks, out, ok := s.run(t)
	assert.False(t, ok)
	assert.Equal(t, doctor.Pass, find(t, checks, "时钟").Status, out)
	assert.Equal(t, doctor.Fail, find(t, checks, "认证").Status, out)
}

func TestUnwritableFolder(t *testing.T) {
	s := newSetup(t, sandboxtest.Start(t).URL)
	file := filepath.Join(t.TempDir(), "一个 文件.txt")
	require.NoError(t, os.WriteFile(file, []byte("x"), 0o644))
	s.env[config.OutputDir] = filepath.Join(file, "images") // a folder inside a file: never creatable, even as root
	checks, out, ok := s.run(t)
	assert.False(t, ok)
	f := failures(checks)
	require.Len(t, f, 1, out)
	assert.True(t, strings.HasPrefix(f[0].Name, "输出文件夹"), f[0].Name)
	assert.Contains(t, f[0].Fix, "set AIPAINT_OUTPUT_DIR to a folder you can write to")
	assert.Equal(t, doctor.Pass, find(t, checks, "数据文件夹").Status, "the data folder, with spaces and Chinese, is fine")
}

func TestInvalidAndPlaceholderSettings(t *testing.T) {
	s := newSetup(t, sandboxtest.Start(t).URL)
	s.env[config.RequestFormat] = "xml"
	s.env[config.AppKey] = "<your AppKey 你的 AppKey>"
	s.env[config.SubmitURL] = "ftp://127.0.0.1/submit"
	checks, out, ok := s.run(t)
	assert.False(t, ok)
	var fixes []string
	for _, f := range failures(checks) {
		fixes = append(fixes, f.Fix)
	}
	all := strings.Join(fixes, "\n")
	assert.Contains(t, all, "change AIPAINT_REQUEST_FORMAT", out)
	assert.Contains(t, all, "change AIPAINT_SUBMIT_URL")
	assert.Contains(t, all, "copy AIPAINT_APP_KEY again")
	assert.NotContains(t, out, "AIPAINT_SUBMIT_URL is not set", "an invalid URL is reported once")
	assert.Equal(t, doctor.Skip, find(t, checks, "认证").Status)
}

func TestTLSAndCAFile(t *testing.T) {
	sb := sandboxtest.Start(t, sandboxtest.TLS())
	s := newSetup(t, sb.URL)
	checks, out, ok := s.run(t)
	assert.False(t, ok, "the test server's certificate is not trusted by default")
	tlsCheck := find(t, checks, "TLS 127.0.0.1")
	assert.Equal(t, doctor.Fail, tlsCheck.Status, out)
	assert.Contains(t, tlsCheck.Fix, "set AIPAINT_CA_FILE")

	ca := filepath.Join(t.TempDir(), "公司 CA.pem")
	require.NoError(t, os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: sb.Certificate().Raw}), 0o644))
	s.env[config.CAFile] = ca
	checks, out, ok = s.run(t)
	assert.True(t, ok, out)
	assert.Equal(t, doctor.Pass, find(t, checks, "TLS 127.0.0.1").Status)
	assert.Equal(t, int64(0), sb.Stats().Submits)

	s.env[config.CAFile] = filepath.Join(t.TempDir(), "missing.pem")
	checks, out, _ = s.run(t)
	assert.Contains(t, failures(checks)[0].Fix, "point AIPAINT_CA_FILE at a readable PEM file", out)
}

func TestTeamSettings(t *testing.T) {
	sb := sandboxtest.Start(t)
	tokens := filepath.Join(t.TempDir(), "tokens")
	// team is a set-up of a team server whose database answers, with a
	// tokens file of these lines.
	team := func(lines string) *setup {
		s := newSetup(t, sb.URL)
		require.NoError(t, os.WriteFile(tokens, []byte(lines), 0o600))
		s.env[config.StoreURL] = "postgres://aipaint@db.example:5432/aipaint"
		s.env[config.TokensFile] = tokens
		s.opts.PingStore = func(context.Context) error { return nil }
		return s
	}

	t.Run("a database that answers and a good tokens file", func(t *testing.T) {
		s := team("alice 0123456789abcdef0123\nbob fedcba9876543210fedc 5\n")
		checks, out, ok := s.run(t)
		assert.True(t, ok, out)
		assert.Equal(t, doctor.Pass, find(t, checks, "团队数据库").Status)
		assert.Equal(t, "2 people", find(t, checks, "令牌文件").Detail)
		for _, c := range checks {
			assert.NotContains(t, c.Name, "数据文件夹", "a team server keeps no data folder")
			assert.NotContains(t, c.Name, "输出文件夹", "nor saves images by default")
		}
	})
	t.Run("people without a token, sign-in off", func(t *testing.T) {
		s := team("alice 0123456789abcdef0123\nann@corp.example - 4\n")
		checks, out, ok := s.run(t)
		assert.False(t, ok, out)
		tf := find(t, checks, "令牌文件")
		assert.Equal(t, doctor.Fail, tf.Status)
		assert.Equal(t, "1 of 2 people have no token (-), and sign-in is off", tf.Detail)
		assert.Contains(t, tf.Fix, config.OAuthIssuer)
		assert.NotContains(t, out, "0123456789abcdef0123", "never a token")
	})
	t.Run("a database that does not answer and a malformed tokens file", func(t *testing.T) {
		s := newSetup(t, sb.URL)
		require.NoError(t, os.WriteFile(tokens, []byte("alice 0123456789abcdef0123\nbob short\n"), 0o600))
		s.env[config.StoreURL] = "postgres://aipaint@db.example:5432/aipaint"
		s.env[config.TokensFile] = tokens
		s.opts.PingStore = func(context.Context) error { return errors.New("store: ping: connection refused") }
		checks, out, ok := s.run(t)
		assert.False(t, ok)
		db := find(t, checks, "团队数据库")
		assert.Equal(t, doctor.Fail, db.Status)
		assert.Contains(t, db.Fix, config.StoreURL)
		tf := find(t, checks, "令牌文件")
		assert.Equal(t, doctor.Fail, tf.Status)
		assert.Contains(t, tf.Detail, "line 2")
		assert.NotContains(t, out, "0123456789abcdef0123", "never a token")
	})
}

// Sign-in: the provider's metadata and key set read as the server would,
// or the reason they are not, naming the setting.
func TestSignIn(t *testing.T) {
	sb := sandboxtest.Start(t)
	p := oauthtest.NewProvider(t, oauthtest.Options{Path: "/realms/corp"})
	for _, tc := range []struct {
		name   string
		env    map[string]string
		status doctor.Status
		detail string
	}{
		{"provider answers", map[string]string{config.OAuthIssuer: p.Issuer, config.PublicURL: "https://paint.example"}, doctor.Pass, "https://paint.example/mcp"},
		{"not the issuer exactly", map[string]string{config.OAuthIssuer: p.Issuer + "/", config.PublicURL: "https://paint.example"}, doctor.Fail, "names issuer"},
		{"no public URL", map[string]string{config.OAuthIssuer: p.Issuer}, doctor.Fail, config.PublicURL},
		{"invalid issuer", map[string]string{config.OAuthIssuer: "sso.example", config.PublicURL: "https://paint.example"}, doctor.Fail, config.OAuthIssuer + " must be"},
		{"invalid public URL alone", map[string]string{config.PublicURL: "https://paint.example/x"}, doctor.Fail, config.PublicURL + " must be"},
		{"a default limit without issuer", map[string]string{config.OAuthDefaultLimit: "5"}, doctor.Fail, config.OAuthDefaultLimit + " set but"},
		{"with the shared token", map[string]string{config.OAuthIssuer: p.Issuer, config.PublicURL: "https://paint.example", config.HTTPToken: secret}, doctor.Fail, config.HTTPToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSetup(t, sb.URL)
			for k, v := range tc.env {
				s.env[k] = v
			}
			checks, _, _ := s.run(t)
			c := find(t, checks, "登录")
			assert.Equal(t, tc.status, c.Status, c.Detail)
			assert.Contains(t, c.Detail, tc.detail)
			if tc.status == doctor.Fail {
				assert.NotEmpty(t, c.Fix)
			}
		})
	}
	s := newSetup(t, sb.URL)
	checks, _, _ := s.run(t)
	for _, c := range checks {
		assert.NotContains(t, c.Name, "登录", "no sign-in check without an issuer")
	}
}
