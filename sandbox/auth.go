package sandbox

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"time"

	"aipaint-mcp/signer"
)

// authFailed opens every 0303 message, as the gateway words it.
const authFailed = "Incorrect app authentication information"

// authenticate checks App authentication as the gateway does: an AppCode
// header if present, else the SDK-HMAC-SHA256 signature. It returns "" when
// the request may pass, else the gateway's error_msg.
func (s *Sandbox) authenticate(r *http.Request, body []byte) string {
	if code := r.Header.Get(signer.HeaderAppCode); code != "" {
		if subtle.ConstantTimeCompare([]byte(code), []byte(AppCode)) != 1 {
			return authFailed + ": invalid AppCode"
		}
		return ""
	}
	if r.Header.Get("Authorization") == "" {
		return authFailed + ": missing Authorization or " + signer.HeaderAppCode
	}
	err := signer.Verify(r, body, secretFor, s.now())
	if err == nil {
		return ""
	}
	return verifyMessage(err)
}

func secretFor(appKey string) (string, bool) {
	return AppSecret, appKey == AppKey
}

// verifyMessage words a Verify failure as the gateway does.
func verifyMessage(err error) string {
	ve, ok := errors.AsType[*signer.VerifyError](err)
	switch {
	case !ok:
		return authFailed
	case ve.CanonicalRequest != "":
		return "verify signature fail, canonicalRequest:" + ve.CanonicalRequest
	case ve.Skew != 0:
		return ExpiredMessage(ve.Skew)
	default:
		return authFailed + ": " + ve.Reason
	}
}

// ExpiredMessage is the 0303 message for an X-Sdk-Date skew from the gateway clock.
func ExpiredMessage(skew time.Duration) string {
	return "request expired: X-Sdk-Date is " + skew.Abs().String() +
		" from the server clock, more than " + signer.MaxClockSkew.String()
}
