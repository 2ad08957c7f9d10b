-- :checkhealth kimi — the server binary and its version, the API key (never printed), and the
-- server serving the buffer you were in.
local compat = require("kimi.compat")

local M = {}

function M.check()
  local h = compat.health()
  local kimi = require("kimi")
  local opts = kimi.options()

  h.start("setup")
  if not opts then
    h.error("require(\"kimi\").setup() has not been called", {
      "Add require(\"kimi\").setup({}) to your config (see :help kimi-setup)",
    })
    return
  end
  local version = vim.fn.matchstr(vim.fn.execute("version"), "NVIM v[^[:space:]]*")
  h.ok(("%s: ghost text by %s"):format(version, kimi.ghost_backend()))

  h.start("server binary")
  local exe = opts.cmd[1]
  local path = vim.fn.exepath(exe)
  if path == "" then
    h.error(("`%s` was not found on PATH"):format(exe), {
      "Install it: cargo install --locked --path server (from the kimi-lsp repository)",
      "or set the full path: require(\"kimi\").setup({ cmd = { \"/path/to/kimi-lsp\" } })",
    })
  else
    local out = vim.fn.system({ path, "--version" })
    if vim.v.shell_error == 0 then
      h.ok(("%s (%s)"):format(vim.trim(out), path))
    else
      h.error(("%s does not run: %s"):format(path, vim.trim(out)))
    end
  end

  h.start("API key")
  local from_settings = type(opts.settings.apiKey) == "string" and opts.settings.apiKey ~= ""
  local env = vim.env.MOONSHOT_API_KEY
  if env and env ~= "" then
    h.ok("MOONSHOT_API_KEY is set in Neovim's environment (the server inherits it)")
  elseif from_settings then
    h.warn("the key is in your Neovim config (settings.apiKey)", {
      "Prefer the environment: export MOONSHOT_API_KEY=sk-… where Neovim starts, so the key stays out of your dotfiles",
    })
  else
    h.error("MOONSHOT_API_KEY is not set", {
      "Create a key on https://platform.moonshot.ai (or .cn), then export MOONSHOT_API_KEY=sk-… before starting Neovim",
      "Run `kimi-lsp doctor` in a terminal: it checks the key against the endpoint",
    })
  end
  if vim.env.MOONSHOT_BASE_URL and vim.env.MOONSHOT_BASE_URL ~= "" then
    h.info("MOONSHOT_BASE_URL = " .. vim.env.MOONSHOT_BASE_URL)
  end

  h.start("server")
  local bufnr = require("kimi.client").last_buf()
  local client = bufnr and compat.get_clients({ bufnr = bufnr, name = "kimi" })[1]
  if not client then
    local any = require("kimi.client").all()
    if #any == 0 then
      h.warn("no kimi-lsp is running", {
        "It starts when you open a file of these filetypes: " .. table.concat(opts.filetypes, ", "),
      })
      return
    end
    client = any[1]
    h.info("the buffer you were in has no kimi-lsp; showing the one for " .. tostring(client.config.root_dir))
  else
    local name = vim.fn.fnamemodify(vim.api.nvim_buf_get_name(bufnr), ":~:.")
    h.ok(("running for %s (root %s)"):format(name, client.config.root_dir))
  end
  local reply = compat.request_sync(client, "kimi/status", vim.empty_dict(), 3000)
  if not reply or reply.err then
    h.error("the server did not answer kimi/status: " .. vim.inspect(reply and reply.err or "timed out"))
    return
  end
  local s = reply.result
  h.ok(("kimi-lsp %s, endpoint %s"):format(s.version or "?", s.baseUrl or "?"))
  if s.apiKeySet then
    h.ok("the server has an API key")
  else
    h.error("the server has no API key", { "export MOONSHOT_API_KEY=sk-… before starting Neovim, then restart Neovim" })
  end
  h.info(
    ("models: completion %s, actions %s, chat %s"):format(
      s.completionModel or "?",
      s.actionModel or "?",
      s.chatModel or "?"
    )
  )
  h.info(("this session: %d requests, cost %.4f; %d open documents; %d files indexed%s"):format(
    s.sessionRequests or 0,
    s.sessionCost or 0,
    s.openDocuments or 0,
    s.indexedFiles or 0,
    s.indexing and " (indexing…)" or ""
  ))
end

return M
