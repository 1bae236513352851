package hosts

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// chatModel is a stub of OpenAI's chat completions (Qwen Code's model API):
// asked with our tool declared, it calls it; given the tool message, it
// records it and answers in text.
func chatModel(rec *recorder) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/chat/completions") {
			http.NotFound(w, r)
			return
		}
		var req struct {
			Stream   bool `json:"stream"`
			Messages []struct {
				Role       string          `json:"role"`
				Content    json.RawMessage `json:"content"`
				ToolCallID string          `json:"tool_call_id"`
			} `json:"messages"`
			Tools []struct {
				Function struct {
					Name string `json:"name"`
				} `json:"function"`
			} `json:"tools"`
		}
		if err := decode(r, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var names []string
		for _, tl := range req.Tools {
			names = append(names, tl.Function.Name)
		}
		tool := toolNamed(names)
		rec.note("chat: %d messages, tools %v", len(req.Messages), names)
		msg := map[string]any{"role": "assistant", "content": "ok"}
		finish := "stop"
		var toolResult string
		searched := false
		for _, m := range req.Messages {
			switch {
			case m.Role == "tool" && m.ToolCallID == "call_draw":
				toolResult = string(m.Content)
			case m.Role == "tool" && m.ToolCallID == "call_search":
				searched = true
			}
		}
		call := func(id, name string, args map[string]any) {
			b, _ := json.Marshal(args)
			msg = map[string]any{"role": "assistant", "content": nil, "tool_calls": []any{map[string]any{
				"index": 0, "id": id, "type": "function",
				"function": map[string]any{"name": name, "arguments": string(b)}}}}
			finish = "tool_calls"
		}
		switch {
		case toolResult != "":
			rec.record(toolResult)
			msg["content"] = "Here is your panda."
		case tool != "":
			call("call_draw", tool, map[string]any{"text": drawText})
		case !searched && contains(names, "tool_search"):
			// Qwen Code defers MCP tools: the model loads them by search.
			call("call_search", "tool_search", map[string]any{"query": "generate_image"})
		}
		usage := map[string]any{"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
		if !req.Stream {
			_ = json.NewEncoder(w).Encode(map[string]any{"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "stub",
				"choices": []any{map[string]any{"index": 0, "message": msg, "finish_reason": finish}}, "usage": usage})
			return
		}
		sseHeaders(w)
		chunk := func(delta map[string]any, finish any) map[string]any {
			return map[string]any{"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "stub",
				"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}}}
		}
		sse(w, "", chunk(msg, nil))
		last := chunk(map[string]any{}, finish)
		last["usage"] = usage
		sse(w, "", last)
		_, _ = w.Write([]byte("data: [DONE]\n\n"))
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestQwenCode(t *testing.T) {
	bin := cli(t, "qwen")
	s := newScratch(t)
	rec := newRecorder()
	model := serveModel(t, chatModel(rec))
	writeFile(t, filepath.Join(s.home, ".qwen", "settings.json"), mustJSON(t, map[string]any{
		"mcpServers": map[string]any{"aipaint": map[string]any{
			"command": binPath, "args": serverArgs(), "env": s.serverEnv, "trust": true, "timeout": 60000,
		}},
		"security": map[string]any{"folderTrust": map[string]any{"enabled": false}, "auth": map[string]any{"selectedType": "openai"}},
		"privacy":  map[string]any{"usageStatisticsEnabled": false},
	}))
	run(t, s, rec, []string{"OPENAI_API_KEY=dummy-key", "OPENAI_BASE_URL=" + model + "/v1", "OPENAI_MODEL=stub-model"},
		bin, "-p", prompt, "--approval-mode", "yolo", "--allowed-mcp-server-names", "aipaint")
	checkResult(t, rec.got())
}
