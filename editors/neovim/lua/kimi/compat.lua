-- Differences between the Neovim versions the plugin supports (0.7 to 0.12+), in one place.
local M = {}

M.has_011 = vim.fn.has("nvim-0.11") == 1
M.has_010 = vim.fn.has("nvim-0.10") == 1
M.has_08 = vim.fn.has("nvim-0.8") == 1

-- 0.11 turned client functions into methods; the dot form warns there and is going away.
function M.request(client, method, params, handler, bufnr)
  if M.has_011 then
    return client:request(method, params, handler, bufnr)
  end
  return client.request(method, params, handler, bufnr)
end

function M.request_sync(client, method, params, timeout_ms, bufnr)
  if M.has_011 then
    return client:request_sync(method, params, timeout_ms, bufnr)
  end
  return client.request_sync(method, params, timeout_ms, bufnr)
end

function M.notify(client, method, params)
  if M.has_011 then
    return client:notify(method, params)
  end
  return client.notify(method, params)
end

function M.cancel_request(client, id)
  if M.has_011 then
    return client:cancel_request(id)
  end
  return client.cancel_request(id)
end

function M.is_stopped(client)
  if M.has_011 then
    return client:is_stopped()
  end
  return client.is_stopped()
end

function M.get_clients(filter)
  if vim.lsp.get_clients then
    return vim.lsp.get_clients(filter)
  end
  local out = {}
  local source = filter.bufnr and vim.lsp.buf_get_clients(filter.bufnr) or vim.lsp.get_active_clients()
  for _, client in pairs(source) do
    if not filter.name or client.name == filter.name then
      table.insert(out, client)
    end
  end
  return out
end

-- Byte column of an LSP character offset in `line`, for the client's position encoding.
function M.byte_col(line, character, encoding)
  if encoding == "utf-8" then
    return math.min(character, #line)
  end
  local ok, col
  if M.has_011 then
    ok, col = pcall(vim.str_byteindex, line, encoding, character, false)
  else
    ok, col = pcall(vim.str_byteindex, line, character, encoding == "utf-16")
  end
  return ok and col or #line
end

-- LSP character offset of byte column `col` in `line`, for the client's position encoding.
function M.character(line, col, encoding)
  if encoding == "utf-8" then
    return col
  end
  if M.has_011 then
    return vim.str_utfindex(line, encoding, col, false)
  end
  local utf32, utf16 = vim.str_utfindex(line, col)
  return encoding == "utf-16" and utf16 or utf32
end

function M.set_hl_default(name, link)
  vim.api.nvim_set_hl(0, name, { link = link, default = true })
end

-- :checkhealth's reporting functions were renamed in 0.10 (report_start -> start, ...).
function M.health()
  local h = vim.health or require("health")
  return {
    start = h.start or h.report_start,
    ok = h.ok or h.report_ok,
    warn = h.warn or h.report_warn,
    error = h.error or h.report_error,
    info = h.info or h.report_info,
  }
end

return M
