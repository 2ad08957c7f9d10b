-- What a statusline shows: whether Kimi is working, this session's spend, the last error.
-- Fed by kimi/usageChanged and by the plugin's own requests; `User KimiStatus` fires on change.
local M = {}

local state = {
  busy = {},
  session_requests = 0,
  session_cost = 0,
  last = nil,
  error = nil,
  completions = true,
  -- bufnr -> why the server gives that buffer no completions (its settings, or the file).
  off_here = {},
}

local function changed()
  vim.schedule(function()
    vim.cmd("silent doautocmd <nomodeline> User KimiStatus")
  end)
end

function M.set_busy(what, on)
  state.busy[what] = on or nil
  changed()
end

function M.set_completions(on)
  state.completions = on
  -- What the server said under the old setting no longer holds; it is asked again.
  state.off_here = {}
  changed()
end

function M.set_off_here(bufnr, reason)
  if state.off_here[bufnr] ~= reason then
    state.off_here[bufnr] = reason
    changed()
  end
end

function M.set_error(message)
  state.error = message
  changed()
end

function M.usage_changed(_, params)
  if type(params) ~= "table" then
    return
  end
  state.session_requests = params.sessionRequests or state.session_requests
  state.session_cost = params.sessionCost or state.session_cost
  state.last = params.lastRequest
  if state.last and state.last.outcome == "error" then
    state.error = ("%s request to %s failed"):format(state.last.feature or "a", state.last.model or "the model")
  elseif state.last then
    state.error = nil
  end
  changed()
end

-- The numbers behind the statusline text.
function M.get()
  return vim.deepcopy(state)
end

-- A short statusline text: "Kimi" ("Kimi off" while :KimiToggle has suggestions off, "Kimi off
-- here" where the server's settings turn them off for the current buffer), then "…" while
-- working or "!" after an error, then this session's cost in the price table's currency (USD by
-- default), e.g. "Kimi … 0.0042".
function M.text()
  local name = "Kimi"
  if not state.completions then
    name = "Kimi off"
  elseif state.off_here[vim.api.nvim_get_current_buf()] then
    name = "Kimi off here"
  end
  local parts = { name }
  if next(state.busy) then
    table.insert(parts, "…")
  elseif state.error then
    table.insert(parts, "!")
  end
  if state.session_requests > 0 then
    table.insert(parts, ("%.4f"):format(state.session_cost))
  end
  return table.concat(parts, " ")
end

return M
