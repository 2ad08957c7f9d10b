-- kimi.nvim: starts kimi-lsp for the configured filetypes and shows what it returns — ghost text,
-- code actions (Neovim's own menu), chat, usage. No AI logic lives here; the server has it all.
local config = require("kimi.config")
local client_mod = require("kimi.client")
local compat = require("kimi.compat")
local ghost = require("kimi.ghost")
local keys = require("kimi.keys")
local status = require("kimi.status")
local chat = require("kimi.chat")

local M = {}

local api = vim.api
local opts
local backend

-- Neovim 0.12's own inline completion, behind the same keys.
local builtin = {}

local function builtin_visible(bufnr)
  local ns = api.nvim_get_namespaces()["nvim.lsp.inline_completion"]
  return ns ~= nil and #api.nvim_buf_get_extmarks(bufnr, ns, 0, -1, { limit = 1 }) > 0
end

function builtin.accept(bufnr)
  return vim.lsp.inline_completion.get({ bufnr = bufnr })
end

-- A word or a line of the suggestion shown: inserted here, after which Neovim asks again and
-- the server answers the rest from memory. The last part is accepted whole, command included.
function builtin.accept_part(bufnr, unit)
  if not builtin_visible(bufnr) then
    return false
  end
  return vim.lsp.inline_completion.get({
    bufnr = bufnr,
    on_accept = function(item)
      local text = type(item.insert_text) == "string" and item.insert_text or item.insert_text.value
      local win = api.nvim_get_current_win()
      if api.nvim_win_get_buf(win) ~= bufnr then
        return item
      end
      local cursor = api.nvim_win_get_cursor(win)
      local row, col = cursor[1] - 1, cursor[2]
      local typed = ""
      if item.range then
        local start_row, start_col = item.range:to_extmark()
        if start_row ~= row or start_col > col then
          return item
        end
        typed = api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1]:sub(start_col + 1, col)
      end
      if text:sub(1, #typed) ~= typed then
        return item
      end
      local rest = text:sub(#typed + 1)
      local part = ghost.part_of(rest, unit)
      if part == rest then
        return item
      end
      local lines = vim.split(part, "\n", { plain = true })
      api.nvim_buf_set_text(bufnr, row, col, row, col, lines)
      api.nvim_win_set_cursor(win, { row + #lines, (#lines == 1 and col or 0) + #lines[#lines] })
      return nil
    end,
  })
end

function builtin.cycle(bufnr, delta)
  if not builtin_visible(bufnr) then
    return false
  end
  vim.lsp.inline_completion.select({ bufnr = bufnr, count = delta })
  return true
end

-- The partial-accept keys, over `accept_part(bufnr, unit)` of either backend.
local function map_partial_accepts(bufnr, k, accept_part)
  keys.map(bufnr, k.accept_word, function(b)
    return accept_part(b, "word")
  end, "accept the suggestion's next word")
  keys.map(bufnr, k.accept_line, function(b)
    return accept_part(b, "line")
  end, "accept the suggestion's next line")
end

local function on_attach(client, bufnr)
  client_mod.note_entered(bufnr)
  local k = opts.keys
  if backend == "extmark" then
    ghost.attach(client, bufnr)
    keys.map(bufnr, k.accept, ghost.accept, "accept the suggestion")
    map_partial_accepts(bufnr, k, ghost.accept_part)
    keys.map(bufnr, k.next, function(b)
      return ghost.cycle(b, 1)
    end, "next suggestion")
    keys.map(bufnr, k.prev, function(b)
      return ghost.cycle(b, -1)
    end, "previous suggestion")
    keys.map(bufnr, k.dismiss, ghost.dismiss, "dismiss the suggestion")
    keys.map(bufnr, k.trigger, ghost.trigger, "ask for suggestions now")
  elseif backend == "builtin" then
    vim.lsp.inline_completion.enable(true, { bufnr = bufnr, client_id = client.id })
    keys.map(bufnr, k.accept, builtin.accept, "accept the suggestion")
    map_partial_accepts(bufnr, k, builtin.accept_part)
    keys.map(bufnr, k.next, function(b)
      return builtin.cycle(b, 1)
    end, "next suggestion")
    keys.map(bufnr, k.prev, function(b)
      return builtin.cycle(b, -1)
    end, "previous suggestion")
  end
  if opts.on_attach then
    opts.on_attach(client, bufnr)
  end
end

local function handlers()
  local h = { ["kimi/usageChanged"] = status.usage_changed }
  for method, fn in pairs(chat.handlers) do
    h[method] = fn
  end
  return h
end

local function highlights()
  compat.set_hl_default("KimiGhostText", "Comment")
  compat.set_hl_default("KimiGhostTextCount", "NonText")
end

local function commands()
  api.nvim_create_user_command("KimiChat", function(cmd)
    chat.command(cmd)
  end, {
    nargs = "*",
    range = true,
    bang = true,
    desc = "Kimi: ask in the chat buffer (with a range: about the selected lines; !: a new conversation)",
  })
  api.nvim_create_user_command("KimiChatOpen", function(cmd)
    chat.open(cmd)
  end, {
    nargs = "?",
    complete = function(lead)
      return chat.complete_ids(lead)
    end,
    desc = "Kimi: reopen a conversation kimi-lsp keeps (no argument: pick one)",
  })
  api.nvim_create_user_command("KimiChatStop", function()
    chat.stop()
  end, { desc = "Kimi: stop the answer that is streaming" })
  api.nvim_create_user_command("KimiUsage", function()
    require("kimi.usage").command()
  end, { desc = "Kimi: tokens and cost today, this week and all time" })
  api.nvim_create_user_command("KimiToggle", function(cmd)
    M.toggle(cmd.args ~= "" and cmd.args or nil)
  end, {
    nargs = "?",
    complete = function()
      return { "filetype" }
    end,
    desc = "Kimi: turn suggestions off, or on again (everywhere, or with `filetype` for this buffer's filetype)",
  })
end

-- :KimiToggle filetype: the current buffer's filetype in `completion.languages`, read as the
-- server reads it (the filetype's own entry, else "*", else on).
local function toggle_filetype(settings)
  local ft = vim.bo.filetype
  if ft == "" then
    vim.notify("kimi: this buffer has no filetype to turn suggestions off for", vim.log.levels.WARN)
    return nil
  end
  local languages = settings.completion.languages or {}
  settings.completion.languages = languages
  local on = languages[ft]
  if on == nil then
    on = languages["*"]
  end
  if on == nil then
    on = true
  end
  languages[ft] = not on
  M.set_settings(settings)
  if on then
    M.dismiss()
  end
  vim.notify(("kimi: suggestions %s for %s files (:KimiToggle filetype again turns them %s)"):format(
    on and "off" or "on", ft, on and "on" or "off"))
  return not on
end

--- Configures the plugin and starts kimi-lsp for matching buffers (see :help kimi-setup).
--- Calling it again applies new options; changed `settings` reach running servers at once.
function M.setup(user)
  local ok, resolved = pcall(config.resolve, user)
  if not ok then
    vim.notify(tostring(resolved), vim.log.levels.ERROR)
    return
  end
  local old = opts
  opts = resolved
  backend = config.ghost_backend(opts)
  status.set_completions(not (type(opts.settings.completion) == "table" and opts.settings.completion.enabled == false))
  ghost.configure(opts.ghost_text)
  chat.configure(opts.chat)
  client_mod.configure(opts, handlers(), on_attach)
  highlights()
  commands()

  local group = api.nvim_create_augroup("kimi", { clear = true })
  api.nvim_create_autocmd("FileType", {
    group = group,
    pattern = opts.filetypes,
    callback = function(args)
      client_mod.attach(args.buf)
    end,
  })
  api.nvim_create_autocmd("BufEnter", {
    group = group,
    callback = function(args)
      client_mod.note_entered(args.buf)
    end,
  })
  api.nvim_create_autocmd("ColorScheme", { group = group, callback = highlights })

  if old and not vim.deep_equal(old.settings, opts.settings) then
    client_mod.push_settings(opts.settings)
  end
  -- Buffers opened before setup (lazy loading) are attached now.
  for _, bufnr in ipairs(api.nvim_list_bufs()) do
    if api.nvim_buf_is_loaded(bufnr) then
      client_mod.attach(bufnr)
    end
  end
end

--- Turns suggestions off, or on again, through the server's settings: everywhere
-- (`completion.enabled`), or with scope "filetype" for the current buffer's filetype
-- (`completion.languages`, keyed by filetype). Every buffer and both ghost-text backends follow,
-- and no request costs anything while off. Returns whether suggestions are on now.
function M.toggle(scope)
  if not opts then
    error("kimi: call require(\"kimi\").setup() first", 2)
  end
  local settings = vim.deepcopy(opts.settings)
  settings.completion = settings.completion or {}
  if scope == "filetype" then
    return toggle_filetype(settings)
  elseif scope ~= nil then
    error("kimi: :KimiToggle takes no argument or `filetype`, not `" .. tostring(scope) .. "`", 2)
  end
  local on = settings.completion.enabled == false
  settings.completion.enabled = on
  M.set_settings(settings)
  status.set_completions(on)
  if not on then
    M.dismiss()
  end
  vim.notify(on and "kimi: suggestions on" or "kimi: suggestions off (:KimiToggle turns them on)")
  return on
end

--- Replaces the server settings and sends them to the running servers (no restart).
function M.set_settings(settings)
  if not opts then
    error("kimi: call require(\"kimi\").setup() first", 2)
  end
  opts.settings = settings or {}
  client_mod.push_settings(opts.settings)
end

--- The resolved options (nil before setup).
function M.options()
  return opts
end

--- "builtin" (Neovim 0.12+), "extmark" or "off".
function M.ghost_backend()
  return backend
end

--- Statusline text, e.g. "Kimi … 0.0042" (see :help kimi-statusline).
function M.status()
  return status.text()
end

--- Accepts the suggestion shown in the current buffer; false when there is none. For your own
--- mappings (e.g. a completion plugin's <Tab>).
function M.accept()
  local bufnr = api.nvim_get_current_buf()
  if backend == "builtin" then
    return builtin.accept(bufnr)
  end
  return ghost.accept(bufnr)
end

--- Hides the suggestion shown (extmark ghost text); false when there is none.
-- Accepts the next word (`unit` "word") or line ("line") of the suggestion shown.
function M.accept_part(unit)
  local bufnr = api.nvim_get_current_buf()
  if backend == "builtin" then
    return builtin.accept_part(bufnr, unit)
  end
  return ghost.accept_part(bufnr, unit)
end

function M.dismiss()
  return ghost.dismiss(api.nvim_get_current_buf())
end

return M
