-- :KimiChat: a Markdown buffer holding the conversation; answers stream in from kimi/chat
-- (kimi/chatDelta), tool activity shows as quoted lines (kimi/chatTool). The session id is kept,
-- so later questions continue the conversation until :KimiChat! starts a new one.
-- :KimiChatOpen reopens a conversation kimi-lsp keeps (kimi/chatSessions, kimi/chatSession).
local compat = require("kimi.compat")
local client_mod = require("kimi.client")
local status = require("kimi.status")

local M = {}

local api = vim.api

local chat = {
  buf = nil,
  session_id = nil,
  -- The request being answered: LSP request id, our requestId, the client, what has arrived.
  busy = nil,
  next_request = 0,
  open = "vsplit",
}

function M.configure(chat_opts)
  chat.open = chat_opts.open
end

local function buf_valid()
  return chat.buf and api.nvim_buf_is_valid(chat.buf)
end

local function last_line_index()
  return api.nvim_buf_line_count(chat.buf) - 1
end

-- Keeps the windows that show the end of the chat following the text as it arrives.
local function follow(fn)
  local followers = {}
  for _, win in ipairs(api.nvim_list_wins()) do
    if api.nvim_win_get_buf(win) == chat.buf then
      local cursor = api.nvim_win_get_cursor(win)
      if win ~= api.nvim_get_current_win() or cursor[1] >= api.nvim_buf_line_count(chat.buf) then
        table.insert(followers, win)
      end
    end
  end
  fn()
  local last = api.nvim_buf_line_count(chat.buf)
  for _, win in ipairs(followers) do
    pcall(api.nvim_win_set_cursor, win, { last, 0 })
  end
end

-- Appends `text` to the end of the buffer as it comes: no newline is added or assumed.
local function append_text(text)
  if not buf_valid() or text == "" then
    return
  end
  follow(function()
    local last = last_line_index()
    local tail = api.nvim_buf_get_lines(chat.buf, last, last + 1, false)[1] or ""
    local lines = vim.split(tail .. text, "\n", { plain = true })
    api.nvim_buf_set_lines(chat.buf, last, last + 1, false, lines)
  end)
end

-- Appends whole lines, starting on a fresh line.
local function append_lines(lines)
  if not buf_valid() then
    return
  end
  follow(function()
    local last = last_line_index()
    local tail = api.nvim_buf_get_lines(chat.buf, last, last + 1, false)[1] or ""
    if tail == "" and last == 0 then
      api.nvim_buf_set_lines(chat.buf, 0, 1, false, lines)
    elseif tail == "" then
      api.nvim_buf_set_lines(chat.buf, last, last + 1, false, lines)
    else
      api.nvim_buf_set_lines(chat.buf, last + 1, last + 1, false, lines)
    end
  end)
end

local function ensure_buffer()
  if buf_valid() then
    return chat.buf
  end
  local buf = api.nvim_create_buf(false, true)
  api.nvim_buf_set_name(buf, "kimi://chat")
  vim.bo[buf].buftype = "nofile"
  vim.bo[buf].bufhidden = "hide"
  vim.bo[buf].swapfile = false
  -- Markdown's ftplugin may fail (0.12 starts tree-sitter, and the parser can be missing); the
  -- chat works without highlighting.
  pcall(function()
    vim.bo[buf].filetype = "markdown"
  end)
  chat.buf = buf
  vim.keymap.set("n", "<CR>", function()
    M.send_from_buffer()
  end, { buffer = buf, silent = true, desc = "Kimi: send the question under the last “## You”" })
  return buf
end

local function show_buffer()
  local buf = ensure_buffer()
  for _, win in ipairs(api.nvim_list_wins()) do
    if api.nvim_win_get_buf(win) == buf then
      api.nvim_set_current_win(win)
      return buf
    end
  end
  if chat.open == "tab" then
    vim.cmd("tabnew")
  elseif chat.open == "split" then
    vim.cmd("belowright split")
  else
    vim.cmd("belowright vsplit")
  end
  api.nvim_win_set_buf(0, buf)
  vim.wo.wrap = true
  vim.wo.linebreak = true
  return buf
end

local function to_end()
  pcall(api.nvim_win_set_cursor, 0, { api.nvim_buf_line_count(chat.buf), 0 })
end

-- The text after the last "## You" heading: the question typed in the chat buffer.
local function pending_question()
  local lines = api.nvim_buf_get_lines(chat.buf, 0, -1, false)
  local start
  for i = #lines, 1, -1 do
    if lines[i]:match("^## You%s*$") then
      start = i
      break
    end
  end
  if not start then
    return nil
  end
  local question = table.concat(vim.list_slice(lines, start + 1, #lines), "\n")
  question = question:gsub("^%s+", ""):gsub("%s+$", "")
  return question ~= "" and question or nil
end

local function finish(answered)
  chat.busy = nil
  status.set_busy("chat", false)
  if answered then
    append_lines({ "", "## You", "", "" })
  end
end

local function send(question, ctx)
  local client, served_buf = client_mod.get(ctx.bufnr)
  if not client then
    vim.notify(
      "kimi: no kimi-lsp is running. Open a file of a language it serves (see :help kimi-filetypes) "
        .. "so it starts, then ask again.",
      vim.log.levels.ERROR
    )
    return false
  end
  chat.next_request = chat.next_request + 1
  local params = { message = question, requestId = chat.next_request }
  if chat.session_id then
    params.sessionId = chat.session_id
  end
  -- The current file goes along only when it is the one the server has open.
  if ctx.bufnr and served_buf == ctx.bufnr and ctx.with_file then
    params.textDocument = { uri = vim.uri_from_bufnr(ctx.bufnr) }
    if ctx.line1 then
      local last = api.nvim_buf_get_lines(ctx.bufnr, ctx.line2 - 1, ctx.line2, false)[1] or ""
      params.range = {
        start = { line = ctx.line1 - 1, character = 0 },
        ["end"] = { line = ctx.line2 - 1, character = compat.character(last, #last, client.offset_encoding) },
      }
    end
  end
  local busy = { request = chat.next_request, client_id = client.id, received = {} }
  local ok, lsp_id = compat.request(client, "kimi/chat", params, function(err, result)
    if chat.busy ~= busy then
      return
    end
    if err then
      append_lines({ "", "**Error:** " .. (err.message or vim.inspect(err)) })
      finish(true)
      return
    end
    chat.session_id = result.sessionId or chat.session_id
    -- The result holds the whole answer: anything the notifications did not bring is added now.
    local received = table.concat(busy.received)
    local text = result.text or ""
    if #text > #received and text:sub(1, #received) == received then
      append_text(text:sub(#received + 1))
    end
    finish(true)
  end, ctx.bufnr)
  if not ok then
    vim.notify(
      "kimi: the server did not take the chat request (is it still running? see :checkhealth kimi)",
      vim.log.levels.ERROR
    )
    return false
  end
  busy.lsp_id = lsp_id
  chat.busy = busy
  status.set_busy("chat", true)
  return true
end

-- :KimiChat [question] (with a range: the selected lines go along); bang: a new conversation.
function M.command(cmd)
  local source = api.nvim_get_current_buf()
  local ctx = { bufnr = source ~= chat.buf and source or nil, with_file = source ~= chat.buf }
  if cmd.range and cmd.range > 0 and source ~= chat.buf then
    ctx.line1, ctx.line2 = cmd.line1, cmd.line2
  end
  local file = source ~= chat.buf and api.nvim_buf_get_name(source) or ""
  if cmd.bang then
    M.reset()
  end
  show_buffer()
  local question = vim.trim(cmd.args or "")
  if question == "" then
    if not chat.busy and not pending_question() and not M.ends_with_prompt() then
      append_lines({ "## You", "", "" })
    end
    to_end()
    return
  end
  if chat.busy then
    vim.notify("kimi: Kimi is still answering; wait for it or stop it with :KimiChatStop", vim.log.levels.WARN)
    return
  end
  local shown = vim.split(question, "\n", { plain = true })
  if ctx.line1 then
    table.insert(shown, "")
    table.insert(shown, ("_(with %s, lines %d–%d)_"):format(vim.fn.fnamemodify(file, ":~:."), ctx.line1, ctx.line2))
  end
  local pending = pending_question() == nil and M.ends_with_prompt()
  if pending then
    -- Fill in the empty "## You" prompt left after the last answer.
    local n = api.nvim_buf_line_count(chat.buf)
    api.nvim_buf_set_lines(chat.buf, n - 1, n, false, shown)
  else
    append_lines(vim.list_extend({ "## You", "" }, shown))
  end
  append_lines({ "", "## Kimi", "", "" })
  to_end()
  send(question, ctx)
end

function M.ends_with_prompt()
  local lines = api.nvim_buf_get_lines(chat.buf, 0, -1, false)
  for i = #lines, 1, -1 do
    if lines[i] ~= "" then
      return lines[i]:match("^## You%s*$") ~= nil
    end
  end
  return false
end

-- <CR> in the chat buffer: sends what was written under the last "## You".
function M.send_from_buffer()
  if chat.busy then
    vim.notify("kimi: Kimi is still answering; wait for it or stop it with :KimiChatStop", vim.log.levels.WARN)
    return
  end
  local question = pending_question()
  if not question then
    vim.notify("kimi: write your question under the last “## You” heading, then press <CR>", vim.log.levels.INFO)
    return
  end
  append_lines({ "", "## Kimi", "", "" })
  to_end()
  send(question, { bufnr = nil, with_file = false })
end

function M.stop()
  local busy = chat.busy
  if not busy then
    vim.notify("kimi: no chat answer is streaming", vim.log.levels.INFO)
    return
  end
  local client = vim.lsp.get_client_by_id(busy.client_id)
  if client and busy.lsp_id then
    compat.cancel_request(client, busy.lsp_id)
  end
  append_lines({ "", "_(stopped)_" })
  finish(true)
end

-- Forgets the conversation: the next question starts a new session.
function M.reset()
  if chat.busy then
    M.stop()
  end
  chat.session_id = nil
  if buf_valid() then
    api.nvim_buf_set_lines(chat.buf, 0, -1, false, {})
  end
end

local function no_server()
  vim.notify(
    "kimi: no kimi-lsp is running. Open a file of a language it serves (see :help kimi-filetypes) "
      .. "so it starts, then try again.",
    vim.log.levels.ERROR
  )
end

-- Shows a session as kimi-lsp keeps it (kimi/chatSession) in the chat buffer; the next question
-- continues it.
local function load_session(client, id)
  compat.request(client, "kimi/chatSession", { sessionId = id }, function(err, result)
    if err or not result then
      vim.notify("kimi: " .. (err and err.message or "the server sent no session"), vim.log.levels.ERROR)
      return
    end
    if chat.busy then
      M.stop()
    end
    chat.session_id = result.sessionId
    show_buffer()
    local lines = {}
    for _, turn in ipairs(result.turns or {}) do
      if #lines > 0 then
        table.insert(lines, "")
      end
      vim.list_extend(lines, { turn.role == "user" and "## You" or "## Kimi", "" })
      vim.list_extend(lines, vim.split(turn.text or "", "\n", { plain = true }))
    end
    if #lines > 0 then
      table.insert(lines, "")
    end
    vim.list_extend(lines, { "## You", "", "" })
    api.nvim_buf_set_lines(chat.buf, 0, -1, false, lines)
    to_end()
  end)
end

local function session_label(s)
  local title = (s.title and s.title ~= "") and s.title or "(untitled)"
  local when = os.date("%Y-%m-%d %H:%M", math.floor((s.updatedUnixMs or 0) / 1000))
  return ("%s  (%d %s, %s)"):format(title, s.turns or 0, s.turns == 1 and "turn" or "turns", when)
end

-- :KimiChatOpen [id]: reopens a conversation; without an id, picks one with vim.ui.select.
function M.open(cmd)
  local client = client_mod.get(nil)
  if not client then
    no_server()
    return
  end
  local id = vim.trim(cmd.args or "")
  if id ~= "" then
    load_session(client, id)
    return
  end
  compat.request(client, "kimi/chatSessions", {}, function(err, result)
    if err then
      vim.notify("kimi: listing chat sessions failed: " .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
      return
    end
    local sessions = result and result.sessions or {}
    if #sessions == 0 then
      vim.notify("kimi: no chat sessions yet; :KimiChat starts one", vim.log.levels.INFO)
      return
    end
    vim.ui.select(sessions, { prompt = "Kimi: reopen a conversation", format_item = session_label }, function(choice)
      if choice then
        load_session(client, choice.id)
      end
    end)
  end)
end

-- Session ids for :KimiChatOpen's completion, most recent first.
function M.complete_ids(lead)
  local client = client_mod.get(nil)
  if not client then
    return {}
  end
  local response = compat.request_sync(client, "kimi/chatSessions", {}, 1000)
  local ids = {}
  for _, s in ipairs(response and response.result and response.result.sessions or {}) do
    if vim.startswith(s.id, lead or "") then
      table.insert(ids, s.id)
    end
  end
  return ids
end

function M.buffer()
  return buf_valid() and chat.buf or nil
end

function M.session_id()
  return chat.session_id
end

function M.is_busy()
  return chat.busy ~= nil
end

local function ours(params)
  return chat.busy and params and params.requestId == chat.busy.request
end

M.handlers = {
  ["kimi/chatDelta"] = function(_, params)
    if ours(params) and params.text then
      table.insert(chat.busy.received, params.text)
      if chat.busy.after_tool then
        -- A blank line ends the quoted tool lines; Markdown would continue the quote otherwise.
        append_lines({ "", "" })
        chat.busy.after_tool = false
      end
      append_text(params.text)
    end
  end,
  ["kimi/chatTool"] = function(_, params)
    if not ours(params) then
      return
    end
    local line = ("> tool `%s` %s"):format(params.name or "?", params.status or "")
    if params.summary and params.summary ~= "" then
      line = line .. ": " .. params.summary:gsub("\n", " ")
    end
    append_lines({ line })
    chat.busy.after_tool = true
  end,
  ["kimi/chatDone"] = function(_, params)
    if ours(params) and params.error then
      status.set_error(params.error)
    end
  end,
}

return M
