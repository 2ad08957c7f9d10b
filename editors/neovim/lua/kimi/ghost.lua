-- Ghost text drawn with extmarks, for Neovim before 0.12 (0.12+ uses vim.lsp.inline_completion):
-- asks textDocument/inlineCompletion as the user types, shows the first line at the cursor and the
-- rest as virtual lines, accepts, cycles and dismisses. A suggestion is tied to the buffer's
-- changedtick and the cursor it was computed for and is never applied anywhere else.
local compat = require("kimi.compat")

local M = {}

local api = vim.api
local ns = api.nvim_create_namespace("kimi.ghost")
M.namespace = ns

local AUTOMATIC, INVOKED = 2, 1

-- bufnr -> state
local buffers = {}

local opts = { debounce_ms = 75 }

function M.configure(ghost_opts)
  opts = ghost_opts
end

local function cursor_of(bufnr)
  local win = api.nvim_get_current_win()
  if api.nvim_win_get_buf(win) ~= bufnr then
    return nil
  end
  local pos = api.nvim_win_get_cursor(win)
  return pos[1] - 1, pos[2]
end

local function in_insert_mode()
  return api.nvim_get_mode().mode:sub(1, 1) == "i"
end

local function clear(s)
  if api.nvim_buf_is_valid(s.bufnr) then
    api.nvim_buf_clear_namespace(s.bufnr, ns, 0, -1)
  end
  s.shown = nil
end

local function cancel(s)
  if s.timer then
    s.timer:stop()
  end
  if s.request_id then
    local client = vim.lsp.get_client_by_id(s.client_id)
    if client then
      pcall(compat.cancel_request, client, s.request_id)
    end
    s.request_id = nil
  end
end

local function insert_text_of(item)
  local t = item.insertText
  if type(t) == "table" then
    -- A snippet (StringValue): shown and inserted as its plain text.
    return t.value or ""
  end
  return t or ""
end

-- What an item means at the cursor: the range it replaces (in byte columns) and the part still to
-- be shown; nil when it does not fit the text before the cursor.
local function fit(s, item, row, col, line)
  local text = insert_text_of(item)
  local scol, ecol = col, col
  if item.range then
    -- Ghost text is drawn from the cursor line: an item replacing other lines does not fit.
    if item.range.start.line ~= row or item.range["end"].line ~= row then
      return nil
    end
    scol = compat.byte_col(line, item.range.start.character, s.encoding)
    ecol = compat.byte_col(line, item.range["end"].character, s.encoding)
  end
  if scol > col or ecol < col then
    return nil
  end
  local typed = line:sub(scol + 1, col)
  if text:sub(1, #typed) ~= typed then
    return nil
  end
  local rest = text:sub(#typed + 1)
  if rest == "" then
    return nil
  end
  return { text = text, rest = rest, row = row, scol = scol, ecol = ecol, command = item.command }
end

local function render(s)
  clear(s)
  local fitted = s.fitted[s.index]
  if not fitted then
    return
  end
  local row, col = s.row, s.col
  local line = api.nvim_buf_get_lines(s.bufnr, row, row + 1, false)[1] or ""
  local lines = vim.split(fitted.rest, "\n", { plain = true })
  local first = { { lines[1], "KimiGhostText" } }
  if #s.fitted > 1 then
    table.insert(first, { (" (%d/%d)"):format(s.index, #s.fitted), "KimiGhostTextCount" })
  end
  local virt_lines = {}
  for i = 2, #lines do
    table.insert(virt_lines, { { lines[i], "KimiGhostText" } })
  end
  local mark = { virt_lines = (#virt_lines > 0) and virt_lines or nil, hl_mode = "combine" }
  if compat.has_010 then
    mark.virt_text = first
    mark.virt_text_pos = "inline"
  elseif col >= #line then
    -- At the end of the line: drawn over the empty cells right after the cursor.
    local leftcol = vim.fn.winsaveview().leftcol
    mark.virt_text = first
    mark.virt_text_pos = "overlay"
    mark.virt_text_win_col = math.max(vim.fn.strdisplaywidth(line:sub(1, col)) - leftcol, 0)
  else
    -- Mid-line, without inline virtual text: after the line, so the text after the cursor stays readable.
    mark.virt_text = first
    mark.virt_text_pos = "eol"
  end
  api.nvim_buf_set_extmark(s.bufnr, ns, row, math.min(col, #line), mark)
  s.shown = fitted
end

-- Keeps what still fits the line after a keystroke (typing through the suggestion).
local function refit(s)
  local row, col = cursor_of(s.bufnr)
  if not row or not s.items then
    return false
  end
  local line = api.nvim_buf_get_lines(s.bufnr, row, row + 1, false)[1] or ""
  local fitted = {}
  for _, item in ipairs(s.items) do
    local f = fit(s, item, row, col, line)
    if f then
      table.insert(fitted, f)
    end
  end
  s.fitted, s.row, s.col, s.tick = fitted, row, col, api.nvim_buf_get_changedtick(s.bufnr)
  s.index = math.min(math.max(s.index or 1, 1), math.max(#fitted, 1))
  render(s)
  return s.shown ~= nil
end

local function request(s, kind, on_done)
  cancel(s)
  local client = vim.lsp.get_client_by_id(s.client_id)
  local row, col = cursor_of(s.bufnr)
  if not client or not row or not in_insert_mode() then
    return
  end
  local line = api.nvim_buf_get_lines(s.bufnr, row, row + 1, false)[1] or ""
  local tick = api.nvim_buf_get_changedtick(s.bufnr)
  local params = {
    textDocument = { uri = vim.uri_from_bufnr(s.bufnr) },
    position = { line = row, character = compat.character(line, col, s.encoding) },
    context = { triggerKind = kind },
  }
  local my_id
  local ok, id = compat.request(client, "textDocument/inlineCompletion", params, function(err, result)
    if s.request_id == my_id then
      s.request_id = nil
    end
    if err or not result or my_id ~= s.latest then
      return
    end
    -- Stale: the buffer or the cursor moved on while the server worked.
    local now_row, now_col = cursor_of(s.bufnr)
    if api.nvim_buf_get_changedtick(s.bufnr) ~= tick or now_row ~= row or now_col ~= col or not in_insert_mode() then
      return
    end
    s.items = result.items or result
    s.index = 1
    refit(s)
    if on_done then
      on_done(s)
    end
  end, s.bufnr)
  if ok then
    my_id = id
    s.request_id = id
    s.latest = id
  end
end

local function schedule_request(s)
  if not s.timer then
    s.timer = vim.loop.new_timer()
  end
  s.timer:stop()
  s.timer:start(
    opts.debounce_ms,
    0,
    vim.schedule_wrap(function()
      if buffers[s.bufnr] == s and api.nvim_get_current_buf() == s.bufnr then
        request(s, AUTOMATIC)
      end
    end)
  )
end

local function dismiss(s)
  local had = s.shown ~= nil
  cancel(s)
  clear(s)
  s.items, s.fitted = nil, {}
  return had
end

function M.attach(client, bufnr)
  if buffers[bufnr] then
    buffers[bufnr].client_id = client.id
    return
  end
  local s = { bufnr = bufnr, client_id = client.id, encoding = client.offset_encoding or "utf-16", fitted = {} }
  buffers[bufnr] = s
  local group = api.nvim_create_augroup("kimi.ghost." .. bufnr, { clear = true })
  s.group = group
  api.nvim_create_autocmd("TextChangedI", {
    group = group,
    buffer = bufnr,
    callback = function()
      if s.items then
        refit(s)
      end
      schedule_request(s)
    end,
  })
  api.nvim_create_autocmd("CursorMovedI", {
    group = group,
    buffer = bufnr,
    callback = function()
      -- A keystroke moves the cursor too; TextChangedI handles that one.
      if api.nvim_buf_get_changedtick(bufnr) ~= s.tick then
        return
      end
      local row, col = cursor_of(bufnr)
      if row ~= s.row or col ~= s.col then
        dismiss(s)
      end
    end,
  })
  api.nvim_create_autocmd({ "InsertLeave", "BufLeave" }, {
    group = group,
    buffer = bufnr,
    callback = function()
      dismiss(s)
    end,
  })
  api.nvim_create_autocmd({ "BufUnload", "BufWipeout" }, {
    group = group,
    buffer = bufnr,
    callback = function()
      M.detach(bufnr)
    end,
  })
end

function M.detach(bufnr)
  local s = buffers[bufnr]
  if not s then
    return
  end
  dismiss(s)
  if s.timer then
    s.timer:close()
  end
  pcall(api.nvim_del_augroup_by_id, s.group)
  buffers[bufnr] = nil
end

-- The suggestion shown now (for statuslines and tests), or nil.
function M.current(bufnr)
  local s = buffers[bufnr or api.nvim_get_current_buf()]
  return s and s.shown and s.shown.text or nil
end

-- The buffer's state and the suggestion it shows, while that still stands where it was computed
-- (the same text and cursor, in insert mode); a stale one is dismissed and nil returned.
local function standing(bufnr)
  local s = buffers[bufnr]
  local shown = s and s.shown
  if not shown then
    return nil
  end
  local row, col = cursor_of(bufnr)
  if api.nvim_buf_get_changedtick(bufnr) ~= s.tick or row ~= s.row or col ~= s.col or not in_insert_mode() then
    dismiss(s)
    return nil
  end
  return s, shown, row, col
end

-- Inserts the suggestion shown; false when there is none (the key then does what it did before).
function M.accept(bufnr)
  bufnr = bufnr or api.nvim_get_current_buf()
  local s, shown = standing(bufnr)
  if not s then
    return false
  end
  dismiss(s)
  local lines = vim.split(shown.text, "\n", { plain = true })
  api.nvim_buf_set_text(bufnr, shown.row, shown.scol, shown.row, shown.ecol, lines)
  local end_row = shown.row + #lines - 1
  local end_col = (#lines == 1 and shown.scol or 0) + #lines[#lines]
  api.nvim_win_set_cursor(0, { end_row + 1, end_col })
  -- The server counts accepted suggestions (kimi.acceptCompletion) for the acceptance rate.
  local client = vim.lsp.get_client_by_id(s.client_id)
  if client and shown.command then
    compat.request(client, "workspace/executeCommand", {
      command = shown.command.command,
      arguments = shown.command.arguments,
    }, function() end, bufnr)
  end
  s.tick = api.nvim_buf_get_changedtick(bufnr)
  s.row, s.col = end_row, end_col
  return true
end

-- The first word or line of `rest`, what a partial accept inserts. A word is the blanks before
-- it and a run of letters, digits and `_` (any non-ASCII byte counts as a letter), or else a run
-- of other characters. A line is the rest of the cursor's line, or, at its end, the next line.
function M.part_of(rest, unit)
  if unit == "line" then
    local stop = rest:find("\n", rest:sub(1, 1) == "\n" and 2 or 1, true)
    return stop and rest:sub(1, stop - 1) or rest
  end
  return rest:match("^%s*[%w_\128-\255]+") or rest:match("^%s*[^%w_%s\128-\255]+") or rest
end

-- Inserts the first word or line (`unit`) of the suggestion shown and keeps showing the rest;
-- false when nothing is shown. The last part accepts the suggestion as M.accept does.
function M.accept_part(bufnr, unit)
  bufnr = bufnr or api.nvim_get_current_buf()
  local s, shown, row, col = standing(bufnr)
  if not s then
    return false
  end
  local part = M.part_of(shown.rest, unit)
  if part == shown.rest then
    return M.accept(bufnr)
  end
  local lines = vim.split(part, "\n", { plain = true })
  api.nvim_buf_set_text(bufnr, row, col, row, col, lines)
  local end_row = row + #lines - 1
  local end_col = (#lines == 1 and col or 0) + #lines[#lines]
  api.nvim_win_set_cursor(0, { end_row + 1, end_col })
  -- The rest stays shown as a suggestion of its own at the new cursor. It still replaces what
  -- the whole one replaced after the cursor (auto-closed brackets), which moved along. The
  -- server, asked again as the buffer changes, answers the same from memory.
  local line = api.nvim_buf_get_lines(bufnr, end_row, end_row + 1, false)[1] or ""
  local replaced = shown.ecol - col
  local from = { line = end_row, character = compat.character(line, end_col, s.encoding) }
  local to = { line = end_row, character = compat.character(line, end_col + replaced, s.encoding) }
  s.items = {
    { insertText = shown.rest:sub(#part + 1), range = { start = from, ["end"] = to }, command = shown.command },
  }
  s.index = 1
  refit(s)
  return true
end

-- Shows the next (or previous) suggestion; with only one, asks the server for several.
function M.cycle(bufnr, delta)
  bufnr = bufnr or api.nvim_get_current_buf()
  local s = buffers[bufnr]
  if not s or not in_insert_mode() then
    return false
  end
  if #s.fitted > 1 then
    s.index = (s.index - 1 + delta) % #s.fitted + 1
    render(s)
    return true
  end
  local was = s.shown and s.shown.text
  request(s, INVOKED, function()
    for i, f in ipairs(s.fitted) do
      if was and f.text == was and #s.fitted > 1 then
        s.index = (i - 1 + delta) % #s.fitted + 1
        render(s)
        return
      end
    end
  end)
  return true
end

-- Asks now, without waiting for a keystroke (several candidates).
function M.trigger(bufnr)
  bufnr = bufnr or api.nvim_get_current_buf()
  local s = buffers[bufnr]
  if not s or not in_insert_mode() then
    return false
  end
  request(s, INVOKED)
  return true
end

function M.dismiss(bufnr)
  local s = buffers[bufnr or api.nvim_get_current_buf()]
  return s and dismiss(s) or false
end

return M
