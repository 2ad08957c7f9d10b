-- Starting kimi-lsp and attaching it to buffers: one server per workspace root.
local compat = require("kimi.compat")

local M = {}

M.name = "kimi"

local state = {
  opts = nil,
  handlers = {},
  on_attach = nil,
  missing_reported = false,
  -- Neovim 0.7 has no vim.lsp.start: the plugin keeps root -> client id itself.
  by_root = {},
  last_buf = nil,
}

function M.configure(opts, handlers, on_attach)
  state.opts = opts
  state.handlers = handlers
  state.on_attach = on_attach
end

local uv = vim.loop

-- Markers of a repository: the one around the file wins over the build files inside it, so that
-- a crate of a Cargo workspace, a package of a monorepo or a CMake subdirectory shares the whole
-- repository's server and index.
local VCS_MARKERS = { [".git"] = true, [".hg"] = true, [".svn"] = true, [".jj"] = true }

local function has_marker(dir, marker)
  if marker:find("[*?]") then
    -- `*.sln`, `*.csproj`: any file of that pattern.
    return vim.fn.glob(dir .. "/" .. marker, true) ~= ""
  end
  return uv.fs_stat(dir .. "/" .. marker) ~= nil
end

-- The nearest directory above `start` holding one of `markers` for which `wanted(marker)` holds.
local function nearest(start, wanted)
  local dir = start
  while true do
    for _, marker in ipairs(state.opts.root_markers) do
      if wanted(marker) and has_marker(dir, marker) then
        return dir
      end
    end
    local parent = vim.fn.fnamemodify(dir, ":h")
    if parent == dir then
      return nil
    end
    dir = parent
  end
end

-- The workspace root of a buffer: the repository around its file (a root marker such as `.git`),
-- else the nearest directory above it holding another root marker, else the file's directory.
function M.root_for(bufnr)
  local path = vim.api.nvim_buf_get_name(bufnr)
  local start = vim.fn.fnamemodify(path, ":p:h")
  return nearest(start, function(marker)
    return VCS_MARKERS[marker]
  end) or nearest(start, function(marker)
    return not VCS_MARKERS[marker]
  end) or start
end

-- The server's `chat.files` rule: a pattern without `/` matches the file name, one with `/` the
-- whole path.
function M.is_chat_file(path)
  for _, pattern in ipairs(state.opts.chat_files) do
    local subject = pattern:find("/", 1, true) and path or vim.fn.fnamemodify(path, ":t")
    if vim.fn.match(subject, vim.fn.glob2regpat(pattern)) >= 0 then
      return true
    end
  end
  return false
end

local function wanted(bufnr)
  if not vim.api.nvim_buf_is_valid(bufnr) or vim.bo[bufnr].buftype ~= "" then
    return false
  end
  local path = vim.api.nvim_buf_get_name(bufnr)
  if path == "" then
    return false
  end
  if not vim.tbl_contains(state.opts.filetypes, vim.bo[bufnr].filetype) then
    return false
  end
  if vim.bo[bufnr].filetype == "markdown" then
    return M.is_chat_file(path)
  end
  return true
end

local function report_missing()
  if state.missing_reported then
    return
  end
  state.missing_reported = true
  vim.notify(
    ("kimi: the language server `%s` was not found on PATH. Install it with "
      .. "`cargo install --locked --path server` (from the kimi-lsp repository), or point "
      .. "require(\"kimi\").setup({ cmd = { \"/path/to/kimi-lsp\" } }) at it. Run :checkhealth kimi to check."):format(
      state.opts.cmd[1]
    ),
    vim.log.levels.ERROR
  )
end

function M.capabilities()
  local caps = vim.lsp.protocol.make_client_capabilities()
  -- Before 0.12 the plugin itself draws inline completions (ghost text).
  caps.textDocument = caps.textDocument or {}
  caps.textDocument.inlineCompletion = caps.textDocument.inlineCompletion or { dynamicRegistration = false }
  return caps
end

local function settings_or_empty(settings)
  -- An empty Lua table would be sent as a JSON array.
  return next(settings) and settings or vim.empty_dict()
end

local function client_config(root)
  local opts = state.opts
  return {
    name = M.name,
    cmd = opts.cmd,
    cmd_env = opts.cmd_env,
    root_dir = root,
    workspace_folders = { { uri = vim.uri_from_fname(root), name = root } },
    init_options = settings_or_empty(opts.settings),
    settings = { kimi = settings_or_empty(opts.settings) },
    handlers = state.handlers,
    capabilities = M.capabilities(),
    flags = { debounce_text_changes = 50 },
    on_attach = function(client, bufnr)
      state.on_attach(client, bufnr)
    end,
  }
end

function M.attach(bufnr)
  if not state.opts or not wanted(bufnr) then
    return
  end
  if vim.fn.executable(state.opts.cmd[1]) ~= 1 then
    report_missing()
    return
  end
  local root = M.root_for(bufnr)
  local config = client_config(root)
  if vim.lsp.start then
    vim.lsp.start(config, { bufnr = bufnr })
    return
  end
  local id = state.by_root[root]
  local client = id and vim.lsp.get_client_by_id(id)
  if not client or compat.is_stopped(client) then
    id = vim.lsp.start_client(config)
    if not id then
      return
    end
    state.by_root[root] = id
  end
  vim.lsp.buf_attach_client(bufnr, id)
end

-- The kimi client serving `bufnr`, or (for commands run from other buffers) the one serving the
-- buffer last entered, or any running kimi client.
function M.get(bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  local own = compat.get_clients({ bufnr = bufnr, name = M.name })
  if own[1] then
    return own[1], bufnr
  end
  if state.last_buf and vim.api.nvim_buf_is_valid(state.last_buf) then
    local last = compat.get_clients({ bufnr = state.last_buf, name = M.name })
    if last[1] then
      return last[1], state.last_buf
    end
  end
  local any = compat.get_clients({ name = M.name })
  return any[1], nil
end

function M.all()
  return compat.get_clients({ name = M.name })
end

function M.note_entered(bufnr)
  if compat.get_clients({ bufnr = bufnr, name = M.name })[1] then
    state.last_buf = bufnr
    M.refresh_off_here(bufnr)
  end
end

-- Asks the buffer's server whether the buffer gets completions (kimi/documentState without the
-- text): the server decides from its settings and the file, and the statusline says so.
function M.refresh_off_here(bufnr)
  local client = compat.get_clients({ bufnr = bufnr, name = M.name })[1]
  if not client then
    return
  end
  local params = { textDocument = { uri = vim.uri_from_bufnr(bufnr) }, withText = false }
  -- Only the latest answer counts: settings may change again while one is on its way.
  state.off_here_asked = (state.off_here_asked or 0) + 1
  local asked = state.off_here_asked
  compat.request(client, "kimi/documentState", params, function(err, result)
    if asked ~= state.off_here_asked then
      return
    end
    local reason = nil
    if not err and type(result) == "table" and type(result.completionsOff) == "string" then
      reason = result.completionsOff
    end
    require("kimi.status").set_off_here(bufnr, reason)
  end, bufnr)
end

function M.last_buf()
  return state.last_buf
end

-- Sends changed settings to every running server (applied live, no restart).
function M.push_settings(settings)
  for _, client in ipairs(M.all()) do
    client.config.settings = { kimi = settings_or_empty(settings) }
    compat.notify(client, "workspace/didChangeConfiguration", { settings = client.config.settings })
  end
  M.refresh_off_here(vim.api.nvim_get_current_buf())
end

return M
