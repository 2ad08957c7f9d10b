-- :KimiUsage: the ledger's report (kimi/usage) and this server's state (kimi/status) in a scratch
-- buffer.
local compat = require("kimi.compat")
local client_mod = require("kimi.client")

local M = {}

local api = vim.api

local function num(v, fmt)
  if v == nil or v == vim.NIL then
    return "–"
  end
  return (fmt or "%d"):format(v)
end

local function pct(v)
  if v == nil or v == vim.NIL then
    return "–"
  end
  return ("%.0f%%"):format(v * 100)
end

local function period_line(label, p)
  return ("%-10s %9s %13s %10s %13s %11s"):format(
    label,
    num(p.requests),
    num(p.promptTokens),
    num(p.cachedTokens),
    num(p.completionTokens),
    num(p.cost, "%.4f") .. ((p.unpricedRequests or 0) > 0 and "+" or "")
  )
end

local function breakdown(title, rows)
  local lines = {}
  if rows and #rows > 0 then
    table.insert(lines, "")
    table.insert(lines, title)
    for _, r in ipairs(rows) do
      local line = ("  %-28s %6s requests %11s"):format(r.name, num(r.requests), num(r.cost, "%.4f"))
      if r.medianLatencyMs ~= nil and r.medianLatencyMs ~= vim.NIL then
        line = line .. ("   median wait %s"):format(M.duration(r.medianLatencyMs))
      end
      table.insert(lines, line)
    end
  end
  return lines
end

-- `640 ms`, `1.2 s`, `14 s`, as `kimi-lsp usage` writes a wait.
function M.duration(ms)
  if ms < 1000 then
    return ("%d ms"):format(ms)
  elseif ms < 10000 then
    return ("%.1f s"):format(ms / 1000)
  end
  return ("%d s"):format(math.floor((ms + 500) / 1000))
end

local function budget_line(name, b)
  if b == nil or b == vim.NIL then
    return ("  %-8s not set"):format(name)
  end
  return ("  %-8s %.4f spent of %.4f"):format(name, b.spent or 0, b.limit or 0)
end

-- The report as lines (pure: kept apart from the requests so it can be read in isolation).
function M.format(usage, status)
  local lines = { "Kimi usage (every kimi-lsp on this machine; costs in the price table's currency)", "" }
  local header = { "", "requests", "prompt tok", "cached", "completion", "cost" }
  table.insert(lines, ("%-10s %9s %13s %10s %13s %11s"):format(unpack(header)))
  table.insert(lines, period_line("today", usage.today or {}))
  table.insert(lines, period_line("this week", usage.thisWeek or {}))
  local all = usage.allTime or {}
  table.insert(lines, period_line("all time", all))
  vim.list_extend(lines, breakdown("By feature (all time):", all.byFeature))
  vim.list_extend(lines, breakdown("By model (all time):", all.byModel))
  table.insert(lines, "")
  table.insert(
    lines,
    ("Completions: %s shown, %s accepted (%s); cost per accepted %s; cache hits %s"):format(
      num(all.shownCompletions),
      num(all.acceptedCompletions),
      pct(all.acceptanceRate),
      num(all.costPerAcceptedCompletion, "%.4f"),
      pct(all.cacheHitRatio)
    )
  )
  if (all.unpricedRequests or 0) > 0 then
    local note = "%d requests used models with no known price: costs marked + are lower bounds"
    table.insert(lines, note:format(all.unpricedRequests))
  end
  table.insert(lines, "")
  table.insert(lines, "Budget:")
  local budget = usage.budget or {}
  table.insert(lines, budget_line("daily", budget.daily))
  table.insert(lines, budget_line("monthly", budget.monthly))
  if status then
    table.insert(lines, "")
    table.insert(lines, ("This server: kimi-lsp %s at %s"):format(status.version or "?", status.baseUrl or "?"))
    table.insert(
      lines,
      ("  models: completion %s, actions %s, chat %s"):format(
        status.completionModel or "?",
        status.actionModel or "?",
        status.chatModel or "?"
      )
    )
    table.insert(
      lines,
      ("  this session: %s requests, cost %s, %s of %s completions accepted"):format(
        num(status.sessionRequests),
        num(status.sessionCost, "%.4f"),
        num(status.acceptedCompletions),
        num(status.shownCompletions)
      )
    )
    local own = status.completionOwnTime
    if own ~= nil and own ~= vim.NIL then
      table.insert(
        lines,
        ("  kimi-lsp's own time per completion (the model's left out): %.2f ms median, %.2f ms p99, over %d"):format(
          own.p50Ms,
          own.p99Ms,
          own.completions
        )
      )
    end
  end
  return lines
end

local function show(lines)
  local buf
  for _, b in ipairs(api.nvim_list_bufs()) do
    if api.nvim_buf_get_name(b) == "kimi://usage" then
      buf = b
    end
  end
  if not buf then
    buf = api.nvim_create_buf(false, true)
    api.nvim_buf_set_name(buf, "kimi://usage")
    vim.bo[buf].buftype = "nofile"
    vim.bo[buf].bufhidden = "wipe"
    vim.bo[buf].swapfile = false
    vim.keymap.set("n", "q", "<cmd>close<cr>", { buffer = buf, silent = true, desc = "Kimi: close" })
  end
  vim.bo[buf].modifiable = true
  api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].modifiable = false
  local win = vim.fn.bufwinid(buf)
  if win == -1 then
    vim.cmd("belowright split")
    api.nvim_win_set_buf(0, buf)
    api.nvim_win_set_height(0, math.min(#lines + 1, 25))
  else
    api.nvim_set_current_win(win)
  end
end

function M.command()
  local client = client_mod.get()
  if not client then
    vim.notify(
      "kimi: no kimi-lsp is running; open a file it serves, or run `kimi-lsp usage` in a terminal",
      vim.log.levels.ERROR
    )
    return
  end
  compat.request(client, "kimi/usage", vim.empty_dict(), function(err, usage)
    if err then
      vim.notify("kimi: kimi/usage failed: " .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
      return
    end
    compat.request(client, "kimi/status", vim.empty_dict(), function(status_err, status)
      show(M.format(usage, not status_err and status or nil))
    end)
  end)
end

return M
