import * as vscode from "vscode";

/** Settings that configure the extension itself; everything else under `kimi.` goes to the server. */
const CLIENT_ONLY = new Set(["serverPath", "trace.server"]);

/**
 * The `kimi.*` settings the user set (in user, workspace or folder settings), nested the way
 * kimi-lsp reads them (`{ models: { chat: … } }`).
 *
 * Only explicitly set values are sent: VS Code would otherwise report every contributed default,
 * and those would override the user's kimi-lsp config file and `MOONSHOT_BASE_URL`, which the
 * server ranks below the editor's settings.
 */
export function explicitServerSettings(): { settings: Record<string, unknown>; keys: string[] } {
  const config = vscode.workspace.getConfiguration("kimi");
  const result: Record<string, unknown> = {};
  const keys: string[] = [];
  for (const key of contributedKeys()) {
    if (CLIENT_ONLY.has(key)) {
      continue;
    }
    const inspected = config.inspect(key);
    const value = inspected?.workspaceFolderValue ?? inspected?.workspaceValue ?? inspected?.globalValue;
    if (value === undefined || value === null) {
      continue;
    }
    setPath(result, key.split("."), value);
    keys.push(key);
  }
  return { settings: result, keys };
}

let keysCache: string[] = [];

/**
 * Learns the keys below `kimi.` from the extension's package.json (`context.extension.packageJSON`),
 * so the schema there is the one list of settings.
 */
export function learnContributedKeys(packageJSON: unknown): void {
  const json = packageJSON as { contributes?: { configuration?: { properties?: Record<string, unknown> } } };
  const properties = json?.contributes?.configuration?.properties ?? {};
  keysCache = Object.keys(properties)
    .filter((k) => k.startsWith("kimi."))
    .map((k) => k.slice("kimi.".length));
}

function contributedKeys(): string[] {
  return keysCache;
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const part of path.slice(0, -1)) {
    const next = node[part];
    if (typeof next !== "object" || next === null) {
      node[part] = {};
    }
    node = node[part] as Record<string, unknown>;
  }
  node[path[path.length - 1]] = value;
}
