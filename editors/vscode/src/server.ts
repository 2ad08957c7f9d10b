import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as vscode from "vscode";
import {
  DidChangeConfigurationNotification,
  LanguageClient,
  LanguageClientOptions,
  LSPErrorCodes,
  MessageType,
  ResponseError,
  ServerOptions,
  ShowMessageNotification,
  State,
} from "vscode-languageclient/node";
import which from "which";
import type { ToolActivity } from "./protocol";
import { explicitServerSettings } from "./settings";
import { StatusBar, UsageChanged } from "./status";

export const SECRET_KEY = "kimi.apiKey";

export interface ChatDelta {
  sessionId: string;
  requestId?: unknown;
  text: string;
}
export interface ChatTool extends ToolActivity {
  sessionId: string;
  requestId?: unknown;
}
export interface ChatDone {
  sessionId: string;
  requestId?: unknown;
  error?: string;
}

/** Requests that run a model: they make the status bar say "thinking". */
const MODEL_REQUESTS = new Set([
  "textDocument/inlineCompletion",
  "textDocument/completion",
  "codeAction/resolve",
  "workspace/executeCommand",
  "kimi/chat",
]);

/** The running kimi-lsp and its language client; restarted when the key or binary changes. */
export class Server implements vscode.Disposable {
  readonly output = vscode.window.createOutputChannel("Kimi", { log: true });
  readonly onChatDelta = new vscode.EventEmitter<ChatDelta>();
  readonly onChatTool = new vscode.EventEmitter<ChatTool>();
  readonly onChatDone = new vscode.EventEmitter<ChatDone>();
  private readonly onDidStartEmitter = new vscode.EventEmitter<void>();
  readonly onDidStart = this.onDidStartEmitter.event;
  private current: LanguageClient | undefined;
  /** What went out as initializationOptions: kimi-lsp keeps that layer until it restarts. */
  private initialSettings: string[] = [];
  private starting: Promise<void> | undefined;
  private readonly subscriptions: vscode.Disposable[] = [];

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly status: StatusBar,
  ) {
    this.subscriptions.push(
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration("kimi.serverPath")) {
          void this.restart();
        } else if (e.affectsConfiguration("kimi")) {
          void this.sendSettings().then(() => this.refreshOffHere());
        }
      }),
      vscode.window.onDidChangeActiveTextEditor(() => void this.refreshOffHere()),
    );
  }

  /** The client, when the server is up. */
  get client(): LanguageClient | undefined {
    return this.current?.state === State.Running ? this.current : undefined;
  }

  /** Waits for a start in progress; the client, or undefined when the server could not start. */
  async ready(): Promise<LanguageClient | undefined> {
    if (this.starting) {
      await this.starting;
    }
    return this.client;
  }

  start(): Promise<void> {
    this.starting = this.doStart().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  async restart(): Promise<void> {
    if (this.starting) {
      await this.starting;
    }
    await this.stop();
    await this.start();
  }

  async stop(): Promise<void> {
    const client = this.current;
    this.current = undefined;
    if (client) {
      try {
        await client.dispose(5000);
      } catch (e) {
        this.output.appendLine(`stopping kimi-lsp: ${String(e)}`);
      }
    }
  }

  private async doStart(): Promise<void> {
    this.status.setServer("starting");
    const command = resolveServerPath(this.output);
    if (typeof command !== "string") {
      this.status.setServer("stopped", "kimi-lsp not found");
      void showMissingServer(command.message);
      return;
    }
    const env: NodeJS.ProcessEnv = { ...process.env };
    // The key travels in the server's environment only: never in settings.json, never in
    // initializationOptions (which the LSP trace would print).
    const stored = await this.context.secrets.get(SECRET_KEY);
    if (stored) {
      env.MOONSHOT_API_KEY = stored;
    }
    const serverOptions: ServerOptions = { command, args: [], options: { env } };
    const status = this.status;
    const initial = explicitServerSettings();
    this.initialSettings = initial.keys;
    const clientOptions: LanguageClientOptions = {
      // Notebook cells too: the server syncs whole notebooks (notebookDocument/*) and completes
      // a cell with the cells around it.
      documentSelector: [{ scheme: "file" }, { scheme: "untitled" }, { notebook: "*" }],
      outputChannel: this.output,
      initializationOptions: initial.settings,
      markdown: { isTrusted: false, supportHtml: false },
      middleware: {
        sendRequest: async (type, param, token, next) => {
          const method = typeof type === "string" ? type : type.method;
          if (!MODEL_REQUESTS.has(method)) {
            return next(type, param, token);
          }
          const end = status.begin();
          try {
            const result = await next(type, param, token);
            end();
            return result;
          } catch (e) {
            end(isCancellation(e) ? undefined : errorMessage(e));
            throw e;
          }
        },
      },
    };
    const client = new LanguageClient("kimi", "Kimi", serverOptions, clientOptions);
    this.current = client;
    client.onDidChangeState((e) => {
      if (client !== this.current) {
        return;
      }
      if (e.newState === State.Stopped) {
        this.status.setServer("stopped", "the server exited (see Kimi: Show Server Log)");
      } else if (e.newState === State.Running) {
        this.status.setServer("running");
      }
    });
    try {
      await client.start();
    } catch (e) {
      this.status.setServer("stopped", errorMessage(e));
      this.output.appendLine(`kimi-lsp did not start: ${errorMessage(e)}`);
      void vscode.window.showErrorMessage(`Kimi: kimi-lsp (${command}) did not start: ${errorMessage(e)}`, "Show Log").then(
        (choice) => choice && this.output.show(),
      );
      return;
    }
    client.onNotification("kimi/chatDelta", (p: ChatDelta) => this.onChatDelta.fire(p));
    client.onNotification("kimi/chatTool", (p: ChatTool) => this.onChatTool.fire(p));
    client.onNotification("kimi/chatDone", (p: ChatDone) => this.onChatDone.fire(p));
    client.onNotification("kimi/usageChanged", (p: UsageChanged) => this.status.setUsage(p));
    // Replaces the client's own handler so that the status bar can show the last error too.
    client.onNotification(ShowMessageNotification.type, (m) => {
      // The server names itself for editors that show messages bare; "Kimi: " does that here.
      const message = m.message.replace(/^kimi-lsp: /, "");
      switch (m.type) {
        case MessageType.Error:
          this.status.fail(message);
          void vscode.window.showErrorMessage(`Kimi: ${message}`);
          break;
        case MessageType.Warning:
          void vscode.window.showWarningMessage(`Kimi: ${message}`);
          break;
        default:
          void vscode.window.showInformationMessage(`Kimi: ${message}`);
      }
    });
    this.status.setServer("running");
    this.onDidStartEmitter.fire();
    await this.checkStatus(client);
    await this.refreshOffHere();
  }

  /**
   * Asks kimi-lsp whether the active editor's file gets completions (`kimi/documentState`
   * without the text), for the status bar: the server decides, from its settings and the file.
   */
  async refreshOffHere(): Promise<void> {
    const client = this.client;
    const document = vscode.window.activeTextEditor?.document;
    if (!client || !document || document.uri.scheme !== "file") {
      this.status.setOffHere(undefined);
      return;
    }
    try {
      const state = await client.sendRequest<{ completionsOff: string | null }>("kimi/documentState", {
        textDocument: { uri: client.code2ProtocolConverter.asUri(document.uri) },
        withText: false,
      });
      this.status.setOffHere(state.completionsOff ?? undefined);
    } catch {
      // Not open on the server (yet): nothing to say about it.
      this.status.setOffHere(undefined);
    }
  }

  /** Reads the model and the key's presence from `kimi/status` once the server is up. */
  private async checkStatus(client: LanguageClient): Promise<void> {
    try {
      const s = await client.sendRequest<{ completionModel: string; apiKeySet: boolean; sessionCost: number; sessionRequests: number }>(
        "kimi/status",
        {},
      );
      this.status.setModel(s.completionModel);
      this.status.setUsage({ sessionCost: s.sessionCost, sessionRequests: s.sessionRequests });
      if (!s.apiKeySet) {
        const choice = await vscode.window.showWarningMessage(
          "Kimi: no Moonshot API key. Set one with \"Kimi: Set API Key\" (kept in VS Code's secret storage) or export MOONSHOT_API_KEY before starting VS Code.",
          "Set API Key",
        );
        if (choice) {
          await vscode.commands.executeCommand("kimi.setApiKey");
        }
      }
    } catch (e) {
      this.output.appendLine(`kimi/status failed: ${errorMessage(e)}`);
    }
  }

  /** Sends the user's `kimi.*` settings after a change; the server applies them live. */
  private async sendSettings(): Promise<void> {
    const client = this.client;
    if (!client) {
      return;
    }
    const { settings, keys } = explicitServerSettings();
    const now = new Set(keys);
    const removed = this.initialSettings.filter((k) => !now.has(k));
    if (removed.length > 0) {
      // A setting removed since start would live on in the server's initializationOptions layer,
      // which only a new process forgets.
      this.output.info(`settings removed (${removed.join(", ")}); restarting kimi-lsp`);
      await this.restart();
      return;
    }
    try {
      await client.sendNotification(DidChangeConfigurationNotification.type, { settings: { kimi: settings } });
      this.output.info(`settings changed; sent to kimi-lsp: ${keys.join(", ") || "(none set)"}`);
    } catch (e) {
      this.output.appendLine(`sending settings failed: ${errorMessage(e)}`);
    }
  }

  dispose(): void {
    void this.stop();
    for (const d of this.subscriptions) {
      d.dispose();
    }
    this.onChatDelta.dispose();
    this.onChatTool.dispose();
    this.onChatDone.dispose();
    this.onDidStartEmitter.dispose();
    this.output.dispose();
  }
}

/** The binary to run, or why there is none. */
export function resolveServerPath(output: vscode.LogOutputChannel): string | { message: string } {
  const configured = vscode.workspace.getConfiguration("kimi").get<string>("serverPath", "").trim();
  if (configured) {
    let p = configured;
    if (p === "~" || p.startsWith("~/")) {
      p = path.join(os.homedir(), p.slice(1));
    }
    if (!path.isAbsolute(p)) {
      const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
      p = path.resolve(folder ?? os.homedir(), p);
    }
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (!fs.statSync(p).isFile()) {
        return { message: `kimi.serverPath is ${p}, which is not a file.` };
      }
    } catch {
      return { message: `kimi.serverPath is ${p}, which does not exist or is not executable.` };
    }
    output.appendLine(`kimi-lsp: ${p} (kimi.serverPath)`);
    return p;
  }
  const found = which.sync("kimi-lsp", { nothrow: true });
  if (found) {
    output.appendLine(`kimi-lsp: ${found} (PATH)`);
    return found;
  }
  return { message: "kimi-lsp was not found on PATH and kimi.serverPath is not set." };
}

async function showMissingServer(message: string): Promise<void> {
  const choice = await vscode.window.showErrorMessage(
    `Kimi: ${message} Install it with \`cargo install --locked --path server\` from the kimi-lsp repository, or set kimi.serverPath to the binary.`,
    "Open Setting",
  );
  if (choice === "Open Setting") {
    await vscode.commands.executeCommand("workbench.action.openSettings", "kimi.serverPath");
  }
}

export function isCancellation(e: unknown): boolean {
  return (
    (e instanceof ResponseError && e.code === LSPErrorCodes.RequestCancelled) ||
    (e instanceof vscode.CancellationError) ||
    (e instanceof Error && e.name === "Canceled")
  );
}

export function errorMessage(e: unknown): string {
  if (e instanceof Error) {
    return e.message;
  }
  return String(e);
}
