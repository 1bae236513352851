package tools

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"aipaint-mcp/client"
	"aipaint-mcp/config"
	"aipaint-mcp/paint"
	"aipaint-mcp/schema"
)

// failure renders a refused or failed paid call as a result the model can
// act on; it names the settings to fix, never their values.
func (h *handlers) failure(err error) *mcp.CallToolResult {
	r, _ := h.failed(err)
	return r
}

// failed is failure's result and the category of err that the audit record
// gives as the call's outcome: one word per kind of failure.
func (h *handlers) failed(err error) (_ *mcp.CallToolResult, category string) {
	var (
		unusable *paint.UnavailableError
		limit    *paint.LimitError
		storeErr *paint.StoreError
		upstream *paint.UpstreamError
		failed   *paint.TaskFailedError
	)
	switch {
	case errors.As(err, &unusable):
		return notUsable(unusable, h.storeSetting()), "unavailable"
	case errors.Is(err, paint.ErrShuttingDown):
		return mcp.NewToolResultError("服务正在关闭 / The server is shutting down; nothing was submitted or billed. Try again once it is back."), "shutting_down"
	case errors.As(err, &limit):
		return limitReached(limit), "daily_limit"
	case errors.Is(err, paint.ErrBusy):
		return mcp.NewToolResultError("服务繁忙 / The server is busy with other paid requests; this call submitted nothing and billed nothing. Call generate_image again in a minute."), "busy"
	case errors.Is(err, paint.ErrInFlight):
		return mcp.NewToolResultError("相同的请求正在提交中 / An identical request is being submitted right now (by another call, maybe from another client); " +
			"this call submitted nothing and billed nothing. Call generate_image again with the same arguments in a minute: " +
			"it will return that task instead of paying again."), "in_flight"
	case errors.As(err, &storeErr):
		return storeFailed(storeErr.Err, h.storeSetting()), "store"
	case errors.Is(err, paint.ErrNotFound):
		// Someone else's task on a team server: the same words as an id the
		// API does not know.
		return mcp.NewToolResultError("任务不存在 / No such task (201): the task_id is wrong or older than one month (task ids expire after a month). Check the id."), "not_found"
	case errors.As(err, &failed):
		return mcp.NewToolResultError("任务已失效 / The API no longer knows task " + failed.Task.TaskID + " (" + failed.Task.Error +
			"). Task ids expire one month after submission. Nothing more can be fetched for it."), "task_failed"
	case errors.As(err, &upstream):
		category = "upstream"
		if e := (*client.APIError)(nil); errors.As(upstream.Err, &e) {
			category = "upstream_" + string(e.Category)
		}
		return upstreamError(upstream.Err, upstream.SubmittedTask), category
	}
	h.Logger.Error("unexpected failure", "err", err)
	return mcp.NewToolResultError("内部错误 internal error: " + err.Error()), "internal"
}

// notUsable says which settings make the paid tools work.
func notUsable(e *paint.UnavailableError, storeSetting string) *mcp.CallToolResult {
	switch {
	case e.Invalid != "":
		return mcp.NewToolResultError("aipaint-mcp 配置有误 / invalid settings: " + strings.ReplaceAll(e.Invalid, "\n", "; ") +
			". Tell the user to fix them in the env block of this MCP server's config and restart the client.")
	case e.StoreProblem != "" && storeSetting == config.StoreURL:
		// Every person of the team reads this: the reason (which names the
		// database's host, port, name and user) is in the server's log. The
		// URL itself is unusable, so reconnecting will not help.
		return mcp.NewToolResultError("任务记录不可用：团队数据库设置有误，请联系服务器管理员 / The team server's database cannot be used, so nothing is submitted (every paid task must be recorded). " +
			"Tell whoever runs this team server to fix " + config.StoreURL + " (the reason is in the server's log) and restart it.")
	case e.StoreProblem != "":
		return mcp.NewToolResultError("任务记录不可用 / The task store is not usable, so nothing is submitted (every paid task must be recorded): " +
			e.StoreProblem + folderAdvice)
	}
	return mcp.NewToolResultError(fmt.Sprintf(
		"aipaint-mcp 尚未配置 / not configured for the real API. Tell the user to set %s in the env block of this MCP server's config and restart the client "+
			"(AppKey, AppSecret and the two request URLs are on Huawei Cloud: 我的云市场 > 已购买的服务 > 资源详情). "+
			"To try it without an account, start the server with --sandbox (or %s=1).",
		strings.Join(e.Missing, ", "), config.Sandbox))
}

// limitReached refuses a request over the daily limit; nothing was submitted.
func limitReached(e *paint.LimitError) *mcp.CallToolResult {
	if p := e.Usage.Person; e.Person && p != nil {
		limit := e.Limit()
		if limit == 0 {
			// Tomorrow brings no more: 0 in the tokens file means never.
			return mcp.NewToolResultError(fmt.Sprintf("不能提交：你在此团队服务器上的每日上限为 0 张 / %s may not submit images on this team server "+
				"(their daily limit is 0 in %s). Nothing was submitted or billed. Ask whoever runs the server to raise it; "+
				"check_task and list_styles still work.", p.Name, config.TokensFile))
		}
		return mcp.NewToolResultError(fmt.Sprintf("已达个人每日上限 / %s's own daily image limit reached: 今日已用 %d/%d 张 (%d used of %d today), this request needs %d more. "+
			"Nothing was submitted or billed. Whoever runs this team server sets each person's limit in %s; otherwise try again tomorrow.",
			p.Name, p.Today, limit, p.Today, limit, e.Requested, config.TokensFile))
	}
	return mcp.NewToolResultError(fmt.Sprintf("已达每日上限 / Daily image limit reached: 今日已用 %d/%d 张 (%d used of %d today), this request needs %d more. "+
		"Nothing was submitted or billed. To allow more, the user can raise %s (0 = no limit) and restart the client; otherwise try again tomorrow.",
		e.Usage.Today, e.Limit(), e.Usage.Today, e.Limit(), e.Requested, config.DailyImageLimit))
}

// storeFailed reports a failure of the task store before anything was submitted.
func storeFailed(err error, storeSetting string) *mcp.CallToolResult {
	if storeSetting == config.StoreURL {
		// Every person of the team reads this, so not the driver's error:
		// it names the database's host, port, name and user. The server
		// logs it for whoever runs it.
		return mcp.NewToolResultError("任务记录失败：团队数据库连不上，未提交也未计费，请稍后再试 / Could not use the task store, so nothing was submitted or billed: " +
			"the team server's database (" + config.StoreURL + ") is not answering; it reconnects by itself: try again in a minute, " +
			"and tell whoever runs the server if it lasts (the reason is in the server's log).")
	}
	return mcp.NewToolResultError("任务记录失败 / Could not use the task store, so nothing was submitted or billed: " + err.Error() +
		". Check that " + config.DataDir + " is a writable folder with free space.")
}

// folderAdvice says how to fix a desktop's folder store that cannot be used
// at all (a team server's database has its own words in notUsable).
const folderAdvice = ". Tell the user to make the folder writable or set " + config.DataDir + " to a writable folder, then restart the client."

// storeSetting names the setting behind the task store.
func (h *handlers) storeSetting() string {
	if s := h.Paint.StoreSetting(); s != "" {
		return s
	}
	return config.DataDir
}

// credentialSettings names the settings behind an authentication failure.
func credentialSettings() string {
	return config.AppKey + " / " + config.AppSecret + " (or " + config.AppCode + ")"
}

// upstreamError turns an upstream failure into a result that tells the model
// what to do. submittedTask names the task this call created (and paid for),
// so the model does not pay for it again; "" when there is none.
func upstreamError(err error, submittedTask string) *mcp.CallToolResult {
	var e *client.APIError
	if !errors.As(err, &e) {
		return mcp.NewToolResultError("内部错误 internal error: " + err.Error())
	}
	urlSetting := config.QueryURL
	if e.Op == client.OpSubmit {
		urlSetting = config.SubmitURL
	}
	var advice string
	switch e.Category {
	case client.CategoryArguments:
		advice = fmt.Sprintf("参数被上游拒绝 / The API rejected the parameters. Fix the arguments (text ≤%d characters, a listed style and resolution, num %d-%d) and try again.",
			schema.MaxTextChars, schema.MinNum, schema.MaxNum)
	case client.CategoryContent:
		advice = "内容被拦截 / The prompt was blocked by content moderation (202). Rephrase the text without sensitive content, then try again."
	case client.CategoryNotFound:
		advice = "任务不存在 / No such task (201): the task_id is wrong or older than one month (task ids expire after a month). Check the id."
	case client.CategoryTransient:
		advice = "上游暂时不可用 / The service is temporarily unavailable (maintenance, throttling or a gateway problem). Nothing needs fixing: try again in a minute."
	case client.CategoryAuth:
		if skewed := e.ClockSkew.Abs() > client.MaxClockSkew; skewed || e.Expired {
			advice = "时钟偏差 / The gateway refused the request because this computer's clock is more than " +
				client.MaxClockSkew.String() + " off (APIG.0303, request expired)."
			if skewed {
				advice += " " + clockOffBy(e.ClockSkew)
			}
			advice += " Tell the user to correct the system time (turn on automatic time / NTP); the credentials are not the problem."
			break
		}
		advice = "认证失败 / Authentication failed (APIG.0303). Tell the user to check " + credentialSettings() + " (copy them again from 我的云市场 > 已购买的服务 > 资源详情) and that the computer clock is correct."
	case client.CategoryNotRunning:
		advice = "请求未发出 / The request was not sent (the call was cancelled, or ran out of time waiting behind other upstream requests): nothing was billed. Try again in a moment."
	case client.CategoryTLS:
		advice = "证书不受信任 / The upstream's TLS certificate is not trusted, so nothing was sent or billed. " +
			"If a corporate proxy inspects HTTPS, tell the user to set " + config.CAFile + " to the proxy's CA certificate (PEM file); otherwise check " + urlSetting + "."
	case client.CategoryForbidden:
		advice = "无权调用 / Not authorised (APIG.0304): this app has not purchased or is not bound to this API. Tell the user to check the purchase on Huawei Cloud Marketplace and that " + config.SubmitURL + " / " + config.QueryURL + " are the URLs of the purchased API."
	case client.CategoryBadURL:
		advice = "接口地址错误 / No such API (APIG.0101 or 404): tell the user to check " + urlSetting + " (copy the request URL from the purchased API's page)."
	case client.CategoryUncertain:
		advice = "结果未知 / The request may have reached the service and may have been billed, but no answer came back (" + e.Message + "). " +
			"Do not call generate_image again right away: tell the user it may have been charged and ask before retrying."
	default:
		advice = "上游错误 / The API reported an error: " + e.Message + ". Tell the user; retrying later may help."
	}
	var b strings.Builder
	b.WriteString(advice)
	if e.Category != client.CategoryUncertain && e.Category != client.CategoryUnknown && e.Message != "" {
		fmt.Fprintf(&b, "\nUpstream said: %s", e.Message)
	}
	if e.Code != 0 {
		fmt.Fprintf(&b, " (code %d)", e.Code)
	}
	if e.GatewayCode != "" {
		fmt.Fprintf(&b, " (%s, HTTP %d)", e.GatewayCode, e.HTTPStatus)
	}
	if ref := e.Reference(); ref != "" {
		fmt.Fprintf(&b, "\nReference: %s", ref)
	}
	if submittedTask != "" {
		fmt.Fprintf(&b, "\nThe task %s was submitted (and billed); call check_task with it later instead of generating again.", submittedTask)
	}
	return mcp.NewToolResultError(b.String())
}

// clockOffBy says which way and how far the local clock is off, from the
// gateway's Date header.
func clockOffBy(skew time.Duration) string {
	way := "ahead of"
	if skew < 0 {
		way = "behind"
	}
	return fmt.Sprintf("The local clock is %s %s the gateway's clock.", skew.Abs(), way)
}
