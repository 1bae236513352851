package hosts

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// geminiModel is a stub of the Gemini API (generateContent and
// streamGenerateContent): asked with our tool declared, it calls it, with
// the wait_for_previous that Gemini CLI adds to every tool; given the
// tool's response, it records it and answers in text.
func geminiModel(rec *recorder) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, ":countTokens") {
			_ = json.NewEncoder(w).Encode(map[string]any{"totalTokens": 10})
			return
		}
		var req struct {
			Contents []struct {
				Role  string           `json:"role"`
				Parts []map[string]any `json:"parts"`
			} `json:"contents"`
			Tools []struct {
				FunctionDeclarations []struct {
					Name string `json:"name"`
				} `json:"functionDeclarations"`
			} `json:"tools"`
		}
		if err := decode(r, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var names []string
		for _, tl := range req.Tools {
			for _, d := range tl.FunctionDeclarations {
				names = append(names, d.Name)
			}
		}
		tool := toolNamed(names)
		rec.note("gemini %s: %d contents, tools %v", r.URL.Path, len(req.Contents), names)
		var part map[string]any
		switch resp := functionResponse(req.Contents); {
		case resp != "":
			rec.record(resp)
			part = map[string]any{"text": "Here is your panda."}
		case tool != "":
			part = map[string]any{"functionCall": map[string]any{"name": tool,
				"args": map[string]any{"text": drawText, "wait_for_previous": true}}}
		default:
			part = map[string]any{"text": "ok"} // the host's own side requests
		}
		body := map[string]any{
			"candidates": []any{map[string]any{
				"content":      map[string]any{"role": "model", "parts": []any{part}},
				"finishReason": "STOP", "index": 0,
			}},
			"usageMetadata": map[string]any{"promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 15},
			"modelVersion":  "gemini-2.5-flash",
		}
		if strings.Contains(r.URL.Path, ":streamGenerateContent") {
			sseHeaders(w)
			sse(w, "", body)
			return
		}
		_ = json.NewEncoder(w).Encode(body)
	})
}

// functionResponse is the last functionResponse part sent to the model, as
// JSON; "" when there is none.
func functionResponse(contents []struct {
	Role  string           `json:"role"`
	Parts []map[string]any `json:"parts"`
}) string {
	for i := len(contents) - 1; i >= 0; i-- {
		for _, p := range contents[i].Parts {
			if fr, ok := p["functionResponse"]; ok {
				b, _ := json.Marshal(fr)
				return string(b)
			}
		}
	}
	return ""
}

// geminiSettings is a Gemini CLI (or Qwen Code) settings file with our
// server, trusted so its calls need no confirmation, in a folder the host
// need not be asked to trust.
func geminiSettings(s scratch, extra map[string]any) map[string]any {
	settings := map[string]any{
		"mcpServers": map[string]any{"aipaint": map[string]any{
			"command": binPath, "args": serverArgs(), "env": s.serverEnv, "trust": true, "timeout": 60000,
		}},
		"security": map[string]any{"folderTrust": map[string]any{"enabled": false}, "auth": map[string]any{"selectedType": "gemini-api-key"}},
		"privacy":  map[string]any{"usageStatisticsEnabled": false},
	}
	for k, v := range extra {
		settings[k] = v
	}
	return settings
}

func TestGeminiCLI(t *testing.T) {
	bin := cli(t, "gemini")
	s := newScratch(t)
	rec := newRecorder()
	model := serveModel(t, geminiModel(rec))
	writeFile(t, filepath.Join(s.home, ".gemini", "settings.json"), mustJSON(t, geminiSettings(s, nil)))
	run(t, s, rec, []string{"GEMINI_API_KEY=dummy-key", "GOOGLE_GEMINI_BASE_URL=" + model},
		bin, "-p", prompt, "-m", "gemini-2.5-flash", "--approval-mode", "yolo", "--allowed-mcp-server-names", "aipaint")
	checkResult(t, rec.got())
}
