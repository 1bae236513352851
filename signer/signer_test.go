package signer

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	testKey    = "ak-test-0001"
	testSecret = "sk-SECRET-must-not-leak-7f3a"
)

// testNow is the pinned signing time, and the verifier's clock.
var testNow = time.Date(2024, 3, 15, 8, 9, 10, 0, time.UTC)

func testSecrets(k string) (string, bool) { return testSecret, k == testKey }

type vector struct {
	Name      string            `json:"name"`
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers"`
	Body      string            `json:"body"`
	AppKey    string            `json:"app_key"`
	AppSecret string            `json:"app_secret"`
	Expected  struct {
		CanonicalRequest string `json:"canonical_request"`
		StringToSign     string `json:"string_to_sign"`
		Signature        string `json:"signature"`
		Authorization    string `json:"authorization"`
	} `json:"expected"`
}

func loadVectors(t *testing.T) []vector {
	t.Helper()
	// A copy lives in testdata so a fresh clone tests on its own; where the
	// project's shared folder is present, the copy must not have drifted.
	raw, err := os.ReadFile("testdata/apig_vectors.json")
	require.NoError(t, err)
	if shared, err := os.ReadFile("../../shared/upstream/apig_vectors.json"); err == nil {
		require.Equal(t, string(shared), string(raw), "testdata/apig_vectors.json differs from ../shared: copy it again")
	}
	var vs []vector
	require.NoError(t, json.Unmarshal(raw, &vs))
	require.NotEmpty(t, vs)
	return vs
}

func TestSignVectors(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			h := http.Header{}
			for k, val := range v.Headers {
				h.Set(k, val)
			}
			got, err := Sign(v.AppKey, v.AppSecret, v.Method, v.URL, h, []byte(v.Body))
			require.NoError(t, err)
			assert.Equal(t, v.Expected.CanonicalRequest, got.CanonicalRequest)
			assert.Equal(t, v.Expected.StringToSign, got.StringToSign)
			assert.Equal(t, v.Expected.Signature, got.Signature)
			assert.Equal(t, v.Expected.Authorization, got.Authorization)
			assert.Contains(t, v.Expected.Authorization, ", SignedHeaders="+got.SignedHeaders+", ")
		})
	}
}

// TestSignRequest is the client's way in: the time is the one passed in, the
// headers the client sends are signed, and the gateway's side agrees.
func TestSignRequest(t *testing.T) {
	body := []byte("taskId=1")
	for _, at := range []time.Time{testNow, testNow.In(time.FixedZone("CST", 8*3600))} {
		req, err := http.NewRequest(http.MethodPost, "https://apig.example.com/ai/paint/query", bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=UTF-8")
		req.Header.Set("Accept", "application/json")
		sig, err := SignRequest(req, body, testKey, testSecret, at)
		require.NoError(t, err)

		assert.Equal(t, "20240315T080910Z", req.Header.Get(HeaderDate), "the time passed in, in UTC")
		assert.Equal(t, "apig.example.com", req.Host)
		assert.Equal(t, sig.Authorization, req.Header.Get("Authorization"))
		assert.Equal(t, "content-type;host;x-sdk-date", sig.SignedHeaders, "Accept is not signed")

		h := http.Header{}
		h.Set("Content-Type", req.Header.Get("Content-Type"))
		h.Set("Host", "apig.example.com")
		h.Set(HeaderDate, "20240315T080910Z")
		want, err := Sign(testKey, testSecret, http.MethodPost, req.URL.String(), h, body)
		require.NoError(t, err)
		assert.Equal(t, want, sig, "the same as Sign over the same headers")
		assert.NoError(t, Verify(req, body, testSecrets, testNow))
	}
}

// TestVerifyAcceptsVectors checks the verifier (used by the sandbox) against
// the same official vectors, so both sides agree with Huawei's signers.
func TestVerifyAcceptsVectors(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			r := httptest.NewRequest(v.Method, v.URL, bytes.NewReader([]byte(v.Body)))
			for k, val := range v.Headers {
				if k == "Host" {
					r.Host = val
					continue
				}
				r.Header.Set(k, val)
			}
			r.Header.Set("Authorization", v.Expected.Authorization)
			date, err := time.Parse(DateLayout, v.Headers["X-Sdk-Date"])
			require.NoError(t, err)
			secrets := func(k string) (string, bool) { return v.AppSecret, k == v.AppKey }
			require.NoError(t, Verify(r, []byte(v.Body), secrets, date.Add(time.Minute)))

			var ve *VerifyError
			err = Verify(r, []byte(v.Body+"x"), secrets, date)
			if r.Header.Get(HeaderContentSHA) == "" {
				require.ErrorAs(t, err, &ve, "a changed body must fail")
				assert.Contains(t, ve.CanonicalRequest, "|")
			}
			err = Verify(r, []byte(v.Body), secrets, date.Add(16*time.Minute))
			require.ErrorAs(t, err, &ve, "skew over 15 minutes must fail")
			assert.Equal(t, 16*time.Minute, ve.Skew)
			err = Verify(r, []byte(v.Body), func(string) (string, bool) { return "wrong", true }, date)
			require.ErrorAs(t, err, &ve, "a wrong secret must fail")
		})
	}
}

func TestEscape(t *testing.T) {
	assert.Equal(t, "a%20b%2A%2B~._-%E5%8F%A4", escape("a b*+~._-古"))
}

func TestVerifyChecksAClaimedContentHash(t *testing.T) {
	body := []byte("taskId=1")
	date := time.Date(2024, 3, 15, 8, 9, 10, 0, time.UTC)
	sign := func(claimed string) *http.Request {
		r := httptest.NewRequest("POST", "https://h.example/q", bytes.NewReader(body))
		h := http.Header{}
		h.Set("Host", "h.example")
		h.Set(HeaderDate, date.Format(DateLayout))
		h.Set(HeaderContentSHA, claimed)
		sig, err := Sign("k", "s", "POST", "https://h.example/q", h, body)
		require.NoError(t, err)
		r.Host = "h.example"
		r.Header.Set(HeaderDate, h.Get(HeaderDate))
		r.Header.Set(HeaderContentSHA, claimed)
		r.Header.Set("Authorization", sig.Authorization)
		return r
	}
	secrets := func(string) (string, bool) { return "s", true }
	assert.NoError(t, Verify(sign("UNSIGNED-PAYLOAD"), body, secrets, date))
	sum := sha256.Sum256(body)
	assert.NoError(t, Verify(sign(hex.EncodeToString(sum[:])), body, secrets, date))
	assert.Error(t, Verify(sign(strings.Repeat("0", 64)), body, secrets, date), "a signed but false body hash is refused")
}
