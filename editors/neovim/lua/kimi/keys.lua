-- Insert-mode keys that act only while Kimi has something to act on, and otherwise do what the key
-- did before (its earlier mapping, or the key itself).
local M = {}

local api = vim.api

local function termcodes(keys)
  return api.nvim_replace_termcodes(keys, true, false, true)
end

-- Replays the mapping `previous` (maparg() dictionary, possibly empty) or the bare key.
local function fall_back(lhs, previous)
  -- "i": before whatever is still in the typeahead, so the order of typed keys is kept.
  if not previous or vim.tbl_isempty(previous) then
    api.nvim_feedkeys(termcodes(lhs), "ni", false)
    return
  end
  local mode = previous.noremap == 1 and "ni" or "mi"
  local keys
  if previous.callback then
    keys = previous.callback()
    if previous.expr ~= 1 then
      return
    end
    if previous.replace_keycodes ~= false then
      keys = termcodes(keys or "")
    end
  elseif previous.expr == 1 then
    keys = termcodes(vim.fn.eval(previous.rhs))
  else
    keys = termcodes(previous.rhs or "")
  end
  if keys and keys ~= "" then
    api.nvim_feedkeys(keys, mode, false)
  end
end

-- Maps `lhs` in insert mode for `bufnr`: `action(bufnr)` returns true when it handled the key.
function M.map(bufnr, lhs, action, desc)
  if not lhs then
    return
  end
  local previous = vim.fn.maparg(lhs, "i", false, true)
  if previous.desc and previous.desc:find("^Kimi: ") then
    -- Attached again: keep the fallback found the first time.
    return
  end
  vim.keymap.set("i", lhs, function()
    if not action(bufnr) then
      fall_back(lhs, previous)
    end
  end, { buffer = bufnr, silent = true, desc = "Kimi: " .. desc })
end

return M
