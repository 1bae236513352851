package hosts

import (
	"encoding/json"
	"fmt"
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
		if !readJSON(w, r, &req) {
			return
		}
		var names []string
		for _, tl := range req.Tools {
			names = append(names, tl.Function.Name)
		}
		results := map[string]string{}
		for _, m := range req.Messages {
			if m.Role == "tool" {
				results[m.ToolCallID] = string(m.Content)
			}
		}
		next := rec.next("chat", names, results, "tool_search")
		msg := map[string]any{"role": "assistant", "content": next.text}
		finish := "stop"
		if next.call != "" {
			args, _ := json.Marshal(next.args)
			msg = map[string]any{"role": "assistant", "content": nil, "tool_calls": []any{map[string]any{
				"index": 0, "id": next.id, "type": "function",
				"function": map[string]any{"name": next.call, "arguments": string(args)}}}}
			finish = "tool_calls"
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

func TestQwenCode(t *testing.T) {
	bin := cli(t, "qwen")
	s, rec, model := newSession(t, chatModel)
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

// responsesModel is a stub of OpenAI's Responses API (Codex CLI's): asked
// with our tool declared, it calls it; given the function_call_output, it
// records it and answers in text.
func responsesModel(rec *recorder) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/responses") {
			rec.note("responses stub: %s %s", r.Method, r.URL.Path)
			http.NotFound(w, r)
			return
		}
		var req struct {
			Input []struct {
				Type   string          `json:"type"`
				CallID string          `json:"call_id"`
				Output json.RawMessage `json:"output"`
			} `json:"input"`
			Tools []map[string]any `json:"tools"`
		}
		if !readJSON(w, r, &req) {
			return
		}
		var names []string
		for _, tl := range req.Tools {
			names = append(names, toolNames(tl)...)
		}
		results := map[string]string{}
		for _, it := range req.Input {
			if it.Type == "function_call_output" {
				results[it.CallID] = string(it.Output)
			}
		}
		next := rec.next("responses", names, results, "")
		item := map[string]any{"type": "message", "role": "assistant", "id": "msg_1", "status": "completed",
			"content": []any{map[string]any{"type": "output_text", "text": next.text, "annotations": []any{}}}}
		if next.call != "" {
			args, _ := json.Marshal(next.args)
			item = map[string]any{"type": "function_call", "id": "fc_1", "call_id": next.id, "name": next.call,
				"arguments": string(args), "status": "completed"}
			if ns, short, ok := strings.Cut(next.call, "/"); ok { // a namespaced tool
				item["namespace"], item["name"] = ns, short
			}
		}
		sseHeaders(w)
		resp := map[string]any{"id": "resp_1", "object": "response", "status": "in_progress", "output": []any{}}
		sse(w, "response.created", map[string]any{"type": "response.created", "response": resp})
		sse(w, "response.output_item.done", map[string]any{"type": "response.output_item.done", "output_index": 0, "item": item})
		done := map[string]any{"id": "resp_1", "object": "response", "status": "completed", "output": []any{item},
			"usage": map[string]any{"input_tokens": 10, "output_tokens": 5, "total_tokens": 15,
				"input_tokens_details": map[string]any{"cached_tokens": 0}, "output_tokens_details": map[string]any{"reasoning_tokens": 0}}}
		sse(w, "response.completed", map[string]any{"type": "response.completed", "response": done})
	})
}

// toolNames are the function names a Responses API tool declares: a
// function's name, or a namespace's functions as namespace/name.
func toolNames(tl map[string]any) []string {
	name, _ := tl["name"].(string)
	if fns, ok := tl["tools"].([]any); ok {
		var out []string
		for _, f := range fns {
			if m, ok := f.(map[string]any); ok {
				n, _ := m["name"].(string)
				out = append(out, name+"/"+n)
			}
		}
		return out
	}
	return []string{name}
}

func TestCodexCLI(t *testing.T) {
	bin := cli(t, "codex")
	s, rec, model := newSession(t, responsesModel)
	var env strings.Builder
	for k, v := range s.serverEnv {
		fmt.Fprintf(&env, "%s = %q\n", k, v)
	}
	writeFile(t, filepath.Join(s.home, ".codex", "config.toml"), fmt.Sprintf(`model = "gpt-5-codex"
model_provider = "stub"
approval_policy = "never"
sandbox_mode = "danger-full-access"

[model_providers.stub]
name = "stub"
base_url = %q
env_key = "STUB_API_KEY"
wire_api = "responses"

[mcp_servers.aipaint]
command = %q
args = ["--sandbox"]
startup_timeout_sec = 30
tool_timeout_sec = 60

[mcp_servers.aipaint.env]
%s`, model+"/v1", binPath, env.String()))
	run(t, s, rec, []string{"STUB_API_KEY=dummy-key", "CODEX_HOME=" + filepath.Join(s.home, ".codex")},
		bin, "exec", "--skip-git-repo-check", prompt)
	checkResult(t, rec.got())
}
