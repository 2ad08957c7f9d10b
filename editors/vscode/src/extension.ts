import * as vscode from "vscode";
import { ChatView } from "./chat";
import { errorMessage, SECRET_KEY, Server } from "./server";
import { learnContributedKeys } from "./settings";
import { formatCost, StatusBar } from "./status";

let server: Server | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  learnContributedKeys(context.extension.packageJSON);
  const status = new StatusBar();
  server = new Server(context, status);
  const chat = new ChatView(context, server);
  context.subscriptions.push(
    status,
    server,
    chat,
    vscode.window.registerWebviewViewProvider(ChatView.viewId, chat),
    vscode.commands.registerCommand("kimi.openChat", () => chat.reveal()),
    vscode.commands.registerCommand("kimi.newChat", async () => {
      await chat.reveal();
      chat.newChat();
    }),
    vscode.commands.registerCommand("kimi.chatHistory", () => chat.pickSession()),
    vscode.commands.registerCommand("kimi.askAboutSelection", async () => {
      await chat.reveal();
      const question = await vscode.window.showInputBox({
        title: "Ask Kimi about the selection",
        prompt: "The selection and its file go along with the question.",
        ignoreFocusOut: true,
      });
      if (question) {
        await chat.send(question, true);
      }
    }),
    vscode.commands.registerCommand("kimi.showUsage", () => showUsage(status)),
    vscode.commands.registerCommand("kimi.toggleLanguage", () => toggleLanguage()),
    vscode.commands.registerCommand("kimi.setApiKey", () => setApiKey(context)),
    vscode.commands.registerCommand("kimi.clearApiKey", async () => {
      await context.secrets.delete(SECRET_KEY);
      void vscode.window.showInformationMessage("Kimi: the stored API key was removed; MOONSHOT_API_KEY from the environment applies again.");
      await server?.restart();
    }),
    vscode.commands.registerCommand("kimi.restartServer", () => server?.restart()),
    vscode.commands.registerCommand("kimi.showLog", () => server?.output.show()),
  );
  await server.start();
}

export async function deactivate(): Promise<void> {
  await server?.stop();
}

/**
 * Turns completions off (or back on) for the active editor's language, in the user's
 * `kimi.completion.languages`; kimi-lsp picks the change up live, and decides per request.
 */
async function toggleLanguage(): Promise<void> {
  const languageId = vscode.window.activeTextEditor?.document.languageId;
  if (!languageId) {
    void vscode.window.showInformationMessage("Kimi: open a file first; completions are turned on or off per language.");
    return;
  }
  const config = vscode.workspace.getConfiguration("kimi");
  const inspected = config.inspect<Record<string, boolean>>("completion.languages");
  // Where the value that applies lives: a workspace's setting wins over the user's.
  const inWorkspace = inspected?.workspaceValue !== undefined;
  const languages = { ...((inWorkspace ? inspected?.workspaceValue : inspected?.globalValue) ?? {}) };
  // As kimi-lsp reads it: the language's own entry, else "*", else on.
  const on = languages[languageId] ?? languages["*"] ?? true;
  languages[languageId] = !on;
  const target = inWorkspace ? vscode.ConfigurationTarget.Workspace : vscode.ConfigurationTarget.Global;
  await config.update("completion.languages", languages, target);
  const where = inWorkspace ? "workspace" : "user";
  void vscode.window.showInformationMessage(
    `Kimi: completions ${on ? "off" : "on"} for ${languageId} (kimi.completion.languages in your ${where} settings).`,
  );
}

async function setApiKey(context: vscode.ExtensionContext): Promise<void> {
  const key = await vscode.window.showInputBox({
    title: "Kimi: Moonshot API key",
    prompt: "Kept in VS Code's secret storage (the OS keychain), never in settings.json. Create one at platform.moonshot.ai or platform.moonshot.cn.",
    password: true,
    ignoreFocusOut: true,
    validateInput: (v) => (v.trim() === "" ? "Paste the key, or press Escape." : /\s/.test(v.trim()) ? "A key has no spaces." : undefined),
  });
  if (key === undefined) {
    return;
  }
  await context.secrets.store(SECRET_KEY, key.trim());
  // The key reaches the server through its environment, so a new key needs a new process.
  await server?.restart();
  void vscode.window.showInformationMessage("Kimi: API key stored; kimi-lsp restarted with it. Run `kimi-lsp doctor` if requests fail.");
}

interface UsageLine {
  name: string;
  medianLatencyMs: number | null;
}
interface Period {
  requests: number;
  byFeature: UsageLine[];
  cost: number;
  unpricedRequests: number;
  cacheHitRatio: number | null;
  shownCompletions: number;
  acceptedCompletions: number;
  acceptanceRate: number | null;
}
interface Usage {
  today: Period;
  thisWeek: Period;
  allTime: Period;
  budget: { daily: { limit: number; spent: number } | null; monthly: { limit: number; spent: number } | null };
}
interface Status {
  version: string;
  baseUrl: string;
  completionModel: string;
  actionModel: string;
  chatModel: string;
  sessionRequests: number;
  sessionCost: number;
  completionOwnTime: { completions: number; p50Ms: number; p99Ms: number } | null;
}

async function showUsage(status: StatusBar): Promise<void> {
  const client = await server?.ready();
  const lines: string[] = [];
  if (!client) {
    lines.push("kimi-lsp is not running.");
  } else {
    try {
      const [usage, s] = await Promise.all([
        client.sendRequest<Usage>("kimi/usage", {}),
        client.sendRequest<Status>("kimi/status", {}),
      ]);
      lines.push(`This session: ${s.sessionRequests} requests, ${formatCost(s.sessionCost)}`);
      lines.push(`Today: ${period(usage.today)}`);
      lines.push(`This week: ${period(usage.thisWeek)}`);
      lines.push(`All time: ${period(usage.allTime)}`);
      const a = usage.allTime;
      if (a.acceptanceRate !== null) {
        lines.push(
          `Completions: ${a.acceptedCompletions} of ${a.shownCompletions} accepted (${Math.round(a.acceptanceRate * 100)} %)`,
        );
      }
      const waits = a.byFeature
        .filter((f) => f.medianLatencyMs !== null)
        .map((f) => `${f.name} ${formatWait(f.medianLatencyMs as number)}`);
      if (waits.length > 0) {
        lines.push(`Median wait for an answer: ${waits.join(", ")}`);
      }
      for (const [name, b] of [["Daily", usage.budget.daily], ["Monthly", usage.budget.monthly]] as const) {
        if (b) {
          lines.push(`${name} budget: ${formatCost(b.spent)} of ${formatCost(b.limit)}`);
        }
      }
      lines.push("");
      lines.push(`Models: completion ${s.completionModel}, actions ${s.actionModel}, chat ${s.chatModel}`);
      lines.push(`Endpoint: ${s.baseUrl} (kimi-lsp ${s.version})`);
      const own = s.completionOwnTime;
      if (own) {
        lines.push(
          `kimi-lsp's own time per completion (the model's left out): ${own.p50Ms.toFixed(2)} ms median, ${own.p99Ms.toFixed(2)} ms p99, over ${own.completions}`,
        );
      }
    } catch (e) {
      lines.push(`Reading usage failed: ${errorMessage(e)}`);
    }
  }
  const err = status.lastError;
  lines.push("");
  lines.push(err ? `Last error (${err.at.toLocaleTimeString()}): ${err.message}` : "No errors this session.");
  const choice = await vscode.window.showInformationMessage("Kimi usage", { modal: true, detail: lines.join("\n") }, "Show Server Log");
  if (choice) {
    server?.output.show();
  }
}

/** `640 ms`, `1.2 s`, `14 s`, as `kimi-lsp usage` writes a wait. */
function formatWait(ms: number): string {
  if (ms < 1000) {
    return `${ms} ms`;
  }
  return ms < 10000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}

function period(p: Period): string {
  const cache = p.cacheHitRatio === null ? "" : `, ${Math.round(p.cacheHitRatio * 100)} % cache hits`;
  const unpriced = p.unpricedRequests > 0 ? ` (+${p.unpricedRequests} unpriced)` : "";
  return `${p.requests} requests, ${formatCost(p.cost)}${unpriced}${cache}`;
}
