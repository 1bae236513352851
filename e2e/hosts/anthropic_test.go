package hosts

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// messagesModel is a stub of Anthropic's messages API (Claude Code's):
// asked with our tool declared, it calls it; given its tool_result, it
// records it and answers in text.
func messagesModel(rec *recorder) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/count_tokens") {
			_ = json.NewEncoder(w).Encode(map[string]any{"input_tokens": 10})
			return
		}
		if !strings.HasSuffix(r.URL.Path, "/v1/messages") {
			http.NotFound(w, r)
			return
		}
		var req struct {
			Model    string `json:"model"`
			Stream   bool   `json:"stream"`
			Messages []struct {
				Role    string          `json:"role"`
				Content json.RawMessage `json:"content"`
			} `json:"messages"`
			Tools []struct {
				Name string `json:"name"`
			} `json:"tools"`
		}
		if !readJSON(w, r, &req) {
			return
		}
		var names []string
		for _, tl := range req.Tools {
			names = append(names, tl.Name)
		}
		results := map[string]string{}
		for _, m := range req.Messages {
			var blocks []struct {
				Type      string          `json:"type"`
				ToolUseID string          `json:"tool_use_id"`
				Content   json.RawMessage `json:"content"`
			}
			if json.Unmarshal(m.Content, &blocks) != nil {
				continue // a plain string
			}
			for _, b := range blocks {
				if b.Type == "tool_result" {
					results[b.ToolUseID] = string(b.Content)
				}
			}
		}
		next := rec.next("messages", names, results, "ToolSearch")
		block := map[string]any{"type": "text", "text": next.text}
		stop := "end_turn"
		if next.call != "" {
			block = map[string]any{"type": "tool_use", "id": next.id, "name": next.call, "input": next.args}
			stop = "tool_use"
		}
		usage := map[string]any{"input_tokens": 10, "output_tokens": 5}
		message := map[string]any{"id": "msg_1", "type": "message", "role": "assistant", "model": req.Model,
			"content": []any{block}, "stop_reason": stop, "stop_sequence": nil, "usage": usage}
		if !req.Stream {
			_ = json.NewEncoder(w).Encode(message)
			return
		}
		sseHeaders(w)
		start := map[string]any{}
		for k, v := range message {
			start[k] = v
		}
		start["content"], start["stop_reason"] = []any{}, nil
		sse(w, "message_start", map[string]any{"type": "message_start", "message": start})
		first, delta := map[string]any{}, map[string]any{}
		if block["type"] == "tool_use" {
			input, _ := json.Marshal(block["input"])
			first = map[string]any{"type": "tool_use", "id": block["id"], "name": block["name"], "input": map[string]any{}}
			delta = map[string]any{"type": "input_json_delta", "partial_json": string(input)}
		} else {
			first = map[string]any{"type": "text", "text": ""}
			delta = map[string]any{"type": "text_delta", "text": block["text"]}
		}
		sse(w, "content_block_start", map[string]any{"type": "content_block_start", "index": 0, "content_block": first})
		sse(w, "content_block_delta", map[string]any{"type": "content_block_delta", "index": 0, "delta": delta})
		sse(w, "content_block_stop", map[string]any{"type": "content_block_stop", "index": 0})
		sse(w, "message_delta", map[string]any{"type": "message_delta", "delta": map[string]any{"stop_reason": stop, "stop_sequence": nil},
			"usage": map[string]any{"output_tokens": 5}})
		sse(w, "message_stop", map[string]any{"type": "message_stop"})
	})
}

func TestClaudeCode(t *testing.T) {
	bin := cli(t, "claude")
	s, rec, model := newSession(t, messagesModel)
	config := filepath.Join(s.home, "mcp.json")
	writeFile(t, config, mustJSON(t, map[string]any{"mcpServers": map[string]any{"aipaint": map[string]any{
		"type": "stdio", "command": binPath, "args": serverArgs(), "env": s.serverEnv,
	}}}))
	run(t, s, rec, []string{"ANTHROPIC_API_KEY=dummy-key", "ANTHROPIC_BASE_URL=" + model,
		"DISABLE_AUTOUPDATER=1", "DISABLE_TELEMETRY=1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1", "MCP_TIMEOUT=30000"},
		bin, "-p", prompt, "--model", "claude-sonnet-4-5", "--mcp-config", config, "--strict-mcp-config",
		"--allowedTools", "mcp__aipaint__generate_image,mcp__aipaint__check_task")
	checkResult(t, rec.got())
}
