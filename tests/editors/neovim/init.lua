-- Drives the kimi plugin in a real (headless) Neovim for tests/e2e/editor_neovim.rs.
--
-- Environment: KIMI_PLUGIN_DIR (editors/neovim), KIMI_TEST_SERVER (the kimi-lsp binary),
-- KIMI_TEST_FILE (the file to edit), KIMI_TEST_PHASE ("ghost", "partial", "action", "chat", "missing"
-- or "roots"),
-- KIMI_TEST_RESULT (where the observations go, as JSON), and per phase KIMI_TEST_TYPE,
-- KIMI_TEST_INSERT, KIMI_TEST_USER_TAB, KIMI_TEST_ACTION, KIMI_TEST_ORIGINAL, KIMI_TEST_RANGE,
-- KIMI_TEST_QUESTION and KIMI_TEST_FOLLOWUP. The script only observes and records; the Rust test decides what is right.
-- Every wait polls with a timeout, and a failure is recorded as `error` with what was seen, then
-- Neovim quits.

vim.opt.runtimepath:prepend(vim.env.KIMI_PLUGIN_DIR)
vim.opt.swapfile = false
vim.opt.shadafile = "NONE"

local results = {
  phase = vim.env.KIMI_TEST_PHASE,
  version = vim.fn.matchstr(vim.fn.execute("version"), "NVIM v[^[:space:]]*"),
}
local TIMEOUT_MS = 20000

local function write_results()
  local f = assert(io.open(vim.env.KIMI_TEST_RESULT, "w"))
  f:write(vim.fn.json_encode(results))
  f:close()
end

-- What the plugin tells the user, kept for the test (and not raised as errors in headless mode).
results.notifications = {}
vim.notify = function(msg, level)
  table.insert(results.notifications, { message = msg, level = level })
end

local co

-- Runs the test coroutine until its next wait; an error inside it ends the run, recorded.
local function resume()
  local ok, err = coroutine.resume(co)
  if not ok then
    results.error = "test script error: " .. tostring(err)
    write_results()
    vim.cmd("qa!")
  end
end

local function sleep(ms)
  vim.defer_fn(resume, ms)
  coroutine.yield()
end

-- Polls `probe` until it returns a value; fails the test with `what` and the last seen state.
local function wait_for(what, probe, seen)
  local deadline = vim.loop.now() + TIMEOUT_MS
  while true do
    local value = probe()
    if value then
      return value
    end
    if vim.loop.now() > deadline then
      local last = vim.inspect(seen and seen() or nil)
      error(("timed out after %d ms waiting for %s; seen: %s"):format(TIMEOUT_MS, what, last), 0)
    end
    sleep(25)
  end
end

local function kimi_client(bufnr)
  for _, c in ipairs(require("kimi.compat").get_clients({ bufnr = bufnr, name = "kimi" })) do
    if c.initialized or c.server_capabilities or c.resolved_capabilities then
      return c
    end
  end
end

local function request(client, method, params)
  local done, reply = false, nil
  require("kimi.compat").request(client, method, params, function(err, result)
    done, reply = true, { err = err, result = result }
  end, vim.api.nvim_get_current_buf())
  wait_for("the answer to " .. method, function()
    return done
  end)
  if reply.err then
    error(method .. " failed: " .. vim.inspect(reply.err), 0)
  end
  return reply.result
end

local function buffer_text(bufnr)
  return table.concat(vim.api.nvim_buf_get_lines(bufnr or 0, 0, -1, false), "\n")
end

-- The ghost text shown in `bufnr`: every extmark's virtual text and lines in the plugin's namespace
-- (0.7–0.11) or Neovim's inline-completion namespace (0.12+).
local function ghost_text(bufnr)
  local names = { "kimi.ghost", "nvim.lsp.inline_completion" }
  local out = {}
  for _, name in ipairs(names) do
    local ns = vim.api.nvim_get_namespaces()[name]
    if ns then
      for _, mark in ipairs(vim.api.nvim_buf_get_extmarks(bufnr, ns, 0, -1, { details = true })) do
        local d = mark[4]
        local text = {}
        for _, chunk in ipairs(d.virt_text or {}) do
          table.insert(text, chunk[1])
        end
        local lines = { table.concat(text) }
        for _, vl in ipairs(d.virt_lines or {}) do
          local l = {}
          for _, chunk in ipairs(vl) do
            table.insert(l, chunk[1])
          end
          table.insert(lines, table.concat(l))
        end
        table.insert(out, {
          namespace = name,
          row = mark[2],
          col = mark[3],
          pos = d.virt_text_pos,
          text = table.concat(lines, "\n"),
        })
      end
    end
  end
  return out
end

-- Types `text` (after `keys`, such as "<End>") and returns the ghost text shown once an
-- automatic request would have come back: where suggestions are off, none.
local function ghost_after_typing(bufnr, keys, text)
  vim.api.nvim_input(keys .. text)
  wait_for("the typing to reach the buffer", function()
    return buffer_text(bufnr):find(text, 1, true)
  end)
  sleep(600)
  return ghost_text(bufnr)
end

-- The cursor line as drawn on the screen (headless Neovim keeps a grid of its own), so the test
-- sees where the ghost text appears relative to the text around it, not only that an extmark exists.
local function screen_line()
  vim.cmd("redraw")
  local row = vim.fn.screenpos(0, vim.fn.line("."), 1).row
  local cells = {}
  for c = 1, vim.o.columns do
    table.insert(cells, vim.fn.screenstring(row, c))
  end
  return (table.concat(cells):gsub("%s+$", ""))
end

local function open_and_attach()
  vim.cmd("edit " .. vim.fn.fnameescape(vim.env.KIMI_TEST_FILE))
  local bufnr = vim.api.nvim_get_current_buf()
  local client = wait_for("kimi-lsp to start and attach", function()
    return kimi_client(bufnr)
  end)
  results.server_started = true
  results.ghost_backend = require("kimi").ghost_backend()
  return bufnr, client
end

local phases = {}

function phases.ghost()
  local bufnr, client = open_and_attach()
  -- Before any suggestion, <Tab> keeps its usual meaning.
  vim.api.nvim_win_set_cursor(0, { 2, 0 })
  vim.api.nvim_input("A<Tab>x<Esc>")
  wait_for("<Tab> without a suggestion to insert itself", function()
    return vim.api.nvim_get_mode().mode == "n" and buffer_text(bufnr):find("x", 1, true)
  end)
  results.line_after_plain_tab = vim.api.nvim_buf_get_lines(bufnr, 1, 2, false)[1]
  vim.cmd("silent undo")
  results.text_before = buffer_text(bufnr)

  -- Typing in insert mode brings ghost text: at the end of the line ("A") or, with
  -- KIMI_TEST_INSERT, wherever those normal-mode keys start insert mode.
  vim.api.nvim_win_set_cursor(0, { 2, 0 })
  vim.api.nvim_input(vim.env.KIMI_TEST_INSERT or "A")
  sleep(50)
  vim.api.nvim_input(vim.env.KIMI_TEST_TYPE or "a")
  local shown = wait_for("ghost text after typing", function()
    local g = ghost_text(bufnr)
    return g[1] and g
  end, function()
    return { text = buffer_text(bufnr), mode = vim.api.nvim_get_mode().mode }
  end)
  results.ghost = shown
  results.mode_while_shown = vim.api.nvim_get_mode().mode
  results.screen_line_while_shown = screen_line()

  -- With KIMI_TEST_NEXT, where the plugin draws the ghost text itself: the next-suggestion key
  -- asks the server for several and shows the next one; the previous-suggestion key brings the
  -- first back (and that is the one accepted below).
  if vim.env.KIMI_TEST_NEXT and require("kimi").ghost_backend() == "extmark" then
    vim.api.nvim_input("<M-]>")
    results.ghost_after_next = wait_for("another suggestion after <M-]>", function()
      local g = ghost_text(bufnr)
      return g[1] and g[1].text ~= shown[1].text and g
    end, function()
      return ghost_text(bufnr)
    end)
    vim.api.nvim_input("<M-[>")
    local next_text = results.ghost_after_next[1].text
    results.ghost_after_prev = wait_for("the first suggestion back after <M-[>", function()
      local g = ghost_text(bufnr)
      -- The plugin now counts the suggestions after the text ("(1/2)").
      return g[1] and g[1].text ~= next_text and g[1].text:sub(1, #shown[1].text) == shown[1].text and g
    end, function()
      return ghost_text(bufnr)
    end)
  end

  -- The accept key inserts it.
  vim.api.nvim_input(vim.env.KIMI_TEST_ACCEPT_KEY or "<Tab>")
  local typed = buffer_text(bufnr)
  results.text_after_accept = wait_for("the accept key to change the buffer", function()
    local text = buffer_text(bufnr)
    return text ~= typed and text
  end, function()
    return buffer_text(bufnr)
  end)
  results.cursor_after_accept = vim.api.nvim_win_get_cursor(0)

  -- ... and the server hears of it (kimi.acceptCompletion, counted in kimi/status).
  results.accepted_completions = wait_for("the server to count the accepted completion", function()
    local s = request(client, "kimi/status", vim.empty_dict())
    return (s.acceptedCompletions or 0) >= 1 and s.acceptedCompletions
  end)

  -- Leaving insert mode takes whatever is shown away.
  vim.api.nvim_input("<Esc>")
  wait_for("normal mode", function()
    return vim.api.nvim_get_mode().mode == "n"
  end)
  sleep(300)
  results.ghost_after_esc = ghost_text(bufnr)
  results.statusline = require("kimi").status()
end

-- Partial accepts: after typing KIMI_TEST_TYPE, each key of KIMI_TEST_PARTIAL_KEYS (separated by
-- spaces) is pressed in turn; after each, the buffer and the ghost text are recorded once the
-- buffer changed and the ghost text shows what is left (or nothing, after the last part).
function phases.partial()
  local bufnr, client = open_and_attach()
  vim.api.nvim_win_set_cursor(0, { 2, 0 })
  vim.api.nvim_input("A")
  sleep(50)
  vim.api.nvim_input(vim.env.KIMI_TEST_TYPE)
  results.ghost = wait_for("ghost text after typing", function()
    local g = ghost_text(bufnr)
    return g[1] and g
  end, function()
    return { text = buffer_text(bufnr), mode = vim.api.nvim_get_mode().mode }
  end)
  results.steps = {}
  for _, key in ipairs(vim.split(vim.env.KIMI_TEST_PARTIAL_KEYS, " ", { plain = true })) do
    local before = buffer_text(bufnr)
    local shown_before = ghost_text(bufnr)[1].text
    vim.api.nvim_input(key)
    local text = wait_for(key .. " to change the buffer", function()
      local t = buffer_text(bufnr)
      return t ~= before and t
    end, function()
      return buffer_text(bufnr)
    end)
    -- What is left of the suggestion, once it is drawn again (the built-in inline completion
    -- asks the server again; the plugin's extmarks show it at once).
    sleep(400)
    local ghost = ghost_text(bufnr)
    local step = {
      key = key,
      text = text,
      cursor = vim.api.nvim_win_get_cursor(0),
      ghost = ghost[1] and ghost[1].text or vim.NIL,
    }
    if ghost[1] and ghost[1].text == shown_before then
      step.ghost_unchanged = true
    end
    table.insert(results.steps, step)
  end
  results.accepted_completions = wait_for("the server to count the accepted completion", function()
    local s = request(client, "kimi/status", vim.empty_dict())
    return (s.acceptedCompletions or 0) >= 1 and s.acceptedCompletions
  end)
  -- :KimiToggle turns suggestions off: typing asks the model nothing and shows nothing.
  vim.cmd("KimiToggle")
  results.status_off = require("kimi").status()
  results.ghost_while_off = ghost_after_typing(bufnr, "<End>", "//off")
  vim.cmd("KimiToggle")
  results.status_on = require("kimi").status()
  -- :KimiToggle filetype turns them off for this buffer's filetype only.
  vim.cmd("KimiToggle filetype")
  results.languages_off = require("kimi").options().settings.completion.languages
  results.status_filetype_off = wait_for("the statusline to say off here", function()
    local text = require("kimi").status()
    return text:find("off here", 1, true) and text
  end)
  results.ghost_while_filetype_off = ghost_after_typing(bufnr, "", "//ft")
  vim.cmd("KimiToggle filetype")
  results.languages_on = require("kimi").options().settings.completion.languages
  results.status_filetype_on = wait_for("the statusline to drop off here", function()
    local text = require("kimi").status()
    return not text:find("off", 1, true) and text
  end)
  vim.cmd("stopinsert")
  vim.cmd("KimiUsage")
  results.usage = wait_for(":KimiUsage's report", function()
    return vim.api.nvim_buf_get_name(0):match("kimi://usage$") and buffer_text(0)
  end)
end

function phases.action()
  local bufnr = open_and_attach()
  vim.api.nvim_win_set_cursor(0, { 1, 4 })
  local offered
  vim.ui.select = function(items, opts, on_choice)
    offered = {}
    local pick
    for i, item in ipairs(items) do
      local title = opts.format_item and opts.format_item(item) or vim.inspect(item)
      table.insert(offered, title)
      if not pick and title:find(vim.env.KIMI_TEST_ACTION, 1, true) then
        pick = i
      end
    end
    on_choice(pick and items[pick] or nil, pick)
  end
  vim.lsp.buf.code_action()
  wait_for("the code-action menu", function()
    return offered
  end)
  results.actions_offered = offered
  results.text_after_action = wait_for("the code action's edit", function()
    local text = buffer_text(bufnr)
    return text ~= vim.env.KIMI_TEST_ORIGINAL and text
  end, function()
    return buffer_text(bufnr)
  end)
end

function phases.chat()
  open_and_attach()
  local chat = require("kimi.chat")
  -- Asked with a range, as after a visual selection: the lines go along.
  vim.cmd((vim.env.KIMI_TEST_RANGE or "") .. "KimiChat " .. vim.env.KIMI_TEST_QUESTION)
  local answer_of = function()
    local buf = chat.buffer()
    if not buf then
      return ""
    end
    local text = buffer_text(buf)
    return text:match("## Kimi\n\n(.*)$") or ""
  end
  -- Every distinct state the answer went through while streaming.
  local states = {}
  wait_for("the chat answer to finish", function()
    local a = vim.trim(answer_of():gsub("## You%s*$", ""))
    if a ~= "" and states[#states] ~= a then
      table.insert(states, a)
    end
    return not chat.is_busy() and #states > 0
  end, function()
    return chat.buffer() and buffer_text(chat.buffer())
  end)
  results.answer_states = states
  results.chat_buffer = buffer_text(chat.buffer())
  results.chat_filetype = vim.bo[chat.buffer()].filetype
  results.session_id = chat.session_id()

  -- A follow-up continues the same session.
  vim.cmd("KimiChat " .. vim.env.KIMI_TEST_FOLLOWUP)
  wait_for("the follow-up answer", function()
    return not chat.is_busy()
  end)
  results.chat_buffer_after_followup = buffer_text(chat.buffer())
  results.session_id_after_followup = chat.session_id()

  -- A new conversation, then :KimiChatOpen brings the first one back from the server, through
  -- vim.ui.select as a picker plugin (telescope, fzf-lua, dressing) provides it.
  vim.cmd("KimiChat!")
  local offered
  vim.ui.select = function(items, opts, on_choice)
    offered = vim.tbl_map(opts.format_item, items)
    on_choice(items[1], 1)
  end
  vim.cmd("KimiChatOpen")
  results.reopened_buffer = wait_for("the reopened conversation", function()
    local text = buffer_text(chat.buffer())
    return text:find("And then?", 1, true) and text
  end, function()
    return buffer_text(chat.buffer())
  end)
  results.sessions_offered = offered
  results.session_id_after_open = chat.session_id()
  -- And by its id, as :KimiChatOpen {id} (completed from the server's list).
  vim.cmd("KimiChat!")
  results.ids_completed = vim.fn.getcompletion("KimiChatOpen ", "cmdline")
  vim.cmd("KimiChatOpen " .. results.session_id)
  results.reopened_by_id = wait_for("the conversation reopened by id", function()
    local text = buffer_text(chat.buffer())
    return text:find("And then?", 1, true) and text
  end)

  -- What it cost, and the health check.
  vim.cmd("KimiUsage")
  results.usage = wait_for(":KimiUsage's report", function()
    return vim.api.nvim_buf_get_name(0):match("kimi://usage$") and buffer_text(0)
  end)
  vim.cmd("checkhealth kimi")
  results.health = wait_for(":checkhealth kimi", function()
    local text = buffer_text(0)
    return text:find("models: ", 1, true) and text
  end, function()
    return buffer_text(0)
  end)
end

-- A server binary that is not there: one clear message, no client, and Neovim carries on.
function phases.missing()
  vim.cmd("edit " .. vim.fn.fnameescape(vim.env.KIMI_TEST_FILE))
  vim.cmd("split " .. vim.fn.fnameescape(vim.fn.fnamemodify(vim.env.KIMI_TEST_FILE, ":h") .. "/other.rs"))
  sleep(300)
  results.clients = #require("kimi.client").all()
  results.ghost_backend = require("kimi").ghost_backend()
end

-- Which workspace root each file of a small tree of projects gets (no server needed): the
-- files are KIMI_TEST_ROOT_FILES, paths under the working directory separated by commas.
function phases.roots()
  results.roots = {}
  for path in vim.gsplit(vim.env.KIMI_TEST_ROOT_FILES, ",") do
    local bufnr = vim.fn.bufadd(vim.fn.getcwd() .. "/" .. path)
    results.roots[path] = require("kimi.client").root_for(bufnr)
  end
end

-- A user's own <Tab> mapping, which the plugin's <Tab> must fall back to.
if vim.env.KIMI_TEST_USER_TAB then
  vim.keymap.set("i", "<Tab>", vim.env.KIMI_TEST_USER_TAB)
end

require("kimi").setup({ cmd = { vim.env.KIMI_TEST_SERVER } })

co = coroutine.create(function()
  local ok, err = pcall(phases[vim.env.KIMI_TEST_PHASE])
  if not ok then
    results.error = tostring(err)
  end
  write_results()
  vim.cmd("qa!")
end)
vim.schedule(resume)
