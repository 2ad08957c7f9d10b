-- The plugin's options: defaults, merging and validation (errors name the option to fix).
local M = {}

M.defaults = {
  -- How to start the server; the first word is looked up on PATH.
  cmd = { "kimi-lsp" },
  -- Extra environment for the server process (MOONSHOT_API_KEY is inherited from Neovim's).
  cmd_env = nil,
  -- The languages the server parses, then languages of code it completes without a grammar
  -- (named in the prompt, with similar code from open files of the same language). Data and
  -- prose formats (JSON, YAML, text) are left out, as Copilot leaves them out. Markdown buffers
  -- attach only when their name matches `chat_files` (the server's `chat.files` setting), so
  -- ordinary notes never reach the model.
  filetypes = {
    "rust",
    "python",
    "typescript",
    "typescriptreact",
    "javascript",
    "javascriptreact",
    "go",
    "c",
    "cpp",
    "java",
    "cs",
    "ruby",
    "php",
    "kotlin",
    "swift",
    "scala",
    "lua",
    "sh",
    "bash",
    "zsh",
    "fish",
    "ps1",
    "perl",
    "r",
    "julia",
    "dart",
    "elixir",
    "erlang",
    "haskell",
    "ocaml",
    "fsharp",
    "clojure",
    "elm",
    "zig",
    "nim",
    "groovy",
    "sql",
    "html",
    "css",
    "scss",
    "vue",
    "svelte",
    "dockerfile",
    "make",
    "cmake",
    "terraform",
    "nix",
    "solidity",
    "proto",
    "graphql",
    "markdown",
  },
  chat_files = { "*.kimi.md" },
  -- A directory holding one of these is the workspace root; one server runs per root. A
  -- repository's marker (`.git`, `.hg`) wins over the build files inside it.
  root_markers = {
    ".git", "Cargo.toml", "go.mod", "package.json", "pyproject.toml", "setup.py", "pom.xml", "build.gradle",
    "build.gradle.kts", "Package.swift", "CMakeLists.txt", "meson.build", "compile_commands.json", "*.sln",
    "*.csproj", ".hg",
  },
  -- Server settings (see the server's README, "Settings"): sent as initializationOptions, and
  -- again as workspace/didChangeConfiguration when they change.
  settings = {},
  ghost_text = {
    -- "auto": Neovim's built-in inline completion on 0.12+, the plugin's extmarks before;
    -- "builtin" or "extmark" to force one; "off" for none.
    mode = "auto",
    -- Client-side pause after a keystroke before asking (the server debounces and supersedes too).
    debounce_ms = 75,
  },
  -- Insert-mode keys; `false` leaves a key unmapped. `accept` acts only while a suggestion is
  -- shown, otherwise the key does what it did before.
  keys = {
    accept = "<Tab>",
    accept_word = "<M-Right>",
    accept_line = "<M-C-Right>",
    next = "<M-]>",
    prev = "<M-[>",
    dismiss = "<C-]>",
    trigger = "<M-\\>",
  },
  chat = {
    -- How :KimiChat opens its buffer: "vsplit", "split" or "tab".
    open = "vsplit",
  },
  -- Called as on_attach(client, bufnr) after the server attaches to a buffer.
  on_attach = nil,
}

local function check(path, value, kind, optional)
  if value == nil and optional then
    return
  end
  local ok = type(value) == kind
  if not ok then
    error(("kimi: option `%s` must be a %s, got %s"):format(path, kind, vim.inspect(value)), 0)
  end
end

local function check_list(path, value)
  check(path, value, "table")
  for i, v in ipairs(value) do
    check(("%s[%d]"):format(path, i), v, "string")
  end
end

local function check_key(path, value)
  if value ~= false then
    check(path, value, "string")
  end
end

-- Returns the merged options or raises an error naming the option that is wrong.
function M.resolve(user)
  if user ~= nil and type(user) ~= "table" then
    error("kimi: setup() takes a table of options, got " .. vim.inspect(user), 0)
  end
  local opts = vim.tbl_deep_extend("force", vim.deepcopy(M.defaults), user or {})
  -- Lists replace the defaults rather than merge index by index.
  for _, key in ipairs({ "cmd", "filetypes", "chat_files", "root_markers" }) do
    if user and user[key] ~= nil then
      opts[key] = user[key]
    end
  end
  check_list("cmd", opts.cmd)
  if #opts.cmd == 0 then
    error("kimi: option `cmd` is empty; give the server's command, e.g. { \"kimi-lsp\" }", 0)
  end
  check("cmd_env", opts.cmd_env, "table", true)
  check_list("filetypes", opts.filetypes)
  check_list("chat_files", opts.chat_files)
  check_list("root_markers", opts.root_markers)
  check("settings", opts.settings, "table")
  check("ghost_text", opts.ghost_text, "table")
  local modes = { auto = true, builtin = true, extmark = true, off = true }
  if not modes[opts.ghost_text.mode] then
    error(
      ("kimi: option `ghost_text.mode` must be \"auto\", \"builtin\", \"extmark\" or \"off\", got %s"):format(
        vim.inspect(opts.ghost_text.mode)
      ),
      0
    )
  end
  check("ghost_text.debounce_ms", opts.ghost_text.debounce_ms, "number")
  check("keys", opts.keys, "table")
  for name, lhs in pairs(opts.keys) do
    check_key("keys." .. name, lhs)
  end
  check("chat", opts.chat, "table")
  local opens = { vsplit = true, split = true, tab = true }
  if not opens[opts.chat.open] then
    local got = vim.inspect(opts.chat.open)
    error(("kimi: option `chat.open` must be \"vsplit\", \"split\" or \"tab\", got %s"):format(got), 0)
  end
  check("on_attach", opts.on_attach, "function", true)
  return opts
end

-- Which ghost-text implementation runs on this Neovim.
function M.ghost_backend(opts)
  local mode = opts.ghost_text.mode
  local builtin = vim.lsp.inline_completion ~= nil and vim.lsp.inline_completion.enable ~= nil
  if mode == "off" then
    return "off"
  elseif mode == "builtin" then
    return builtin and "builtin" or "extmark"
  elseif mode == "extmark" then
    return "extmark"
  end
  return builtin and "builtin" or "extmark"
end

return M
