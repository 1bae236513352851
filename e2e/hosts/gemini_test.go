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
		if !readJSON(w, r, &req) {
			return
		}
		var names []string
		for _, tl := range req.Tools {
			for _, d := range tl.FunctionDeclarations {
				names = append(names, d.Name)
			}
		}
		next := rec.next("gemini "+r.URL.Path, names, functionResponses(req.Contents), "")
		part := map[string]any{"text": next.text}
		if next.call != "" {
			next.args["wait_for_previous"] = true // as Gemini CLI's system prompt asks of dependent calls
			part = map[string]any{"functionCall": map[string]any{"id": next.id, "name": next.call, "args": next.args}}
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

// functionResponses are the functionResponse parts sent to the model, as
// JSON, by the call they answer: our generate_image's under drawID.
func functionResponses(contents []struct {
	Role  string           `json:"role"`
	Parts []map[string]any `json:"parts"`
}) map[string]string {
	out := map[string]string{}
	for _, c := range contents {
		for _, p := range c.Parts {
			fr, ok := p["functionResponse"].(map[string]any)
			if !ok {
				continue
			}
			b, _ := json.Marshal(fr)
			id, _ := fr["id"].(string)
			if name, _ := fr["name"].(string); strings.HasSuffix(name, "generate_image") {
				id = drawID // Gemini CLI names the call itself
			}
			out[id] = string(b)
		}
	}
	return out
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
	s, rec, model := newSession(t, geminiModel)
	writeFile(t, filepath.Join(s.home, ".gemini", "settings.json"), mustJSON(t, geminiSettings(s, nil)))
	run(t, s, rec, []string{"GEMINI_API_KEY=dummy-key", "GOOGLE_GEMINI_BASE_URL=" + model},
		bin, "-p", prompt, "-m", "gemini-2.5-flash", "--approval-mode", "yolo", "--allowed-mcp-server-names", "aipaint")
	checkResult(t, rec.got())
}
