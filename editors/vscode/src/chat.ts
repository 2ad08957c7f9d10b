import * as crypto from "node:crypto";
import * as path from "node:path";
import * as vscode from "vscode";
import type { AssistantTurn, FromView, SessionInfo, ToView, Turn } from "./protocol";
import { errorMessage, isCancellation, Server } from "./server";

interface ChatResult {
  sessionId: string;
  text: string;
}

/** `kimi/chatSession`: a session's turns as kimi-lsp keeps them (docs/lsp-extensions.md). */
interface SessionTranscript {
  sessionId: string;
  title: string;
  turns: { role: "user" | "assistant"; text: string }[];
}

interface Running {
  requestId: string;
  cancel: vscode.CancellationTokenSource;
  answer: AssistantTurn;
}

/**
 * The chat view: a webview in the Kimi side bar that talks `kimi/chat`. All model work is the
 * server's; this class relays messages, attaches the editor's selection and applies the view's
 * copy/insert buttons.
 */
export class ChatView implements vscode.WebviewViewProvider, vscode.Disposable {
  static readonly viewId = "kimi.chat";
  private view: vscode.WebviewView | undefined;
  private sessionId: string | undefined;
  private turns: Turn[] = [];
  private note: string | undefined;
  private running: Running | undefined;
  /** The editor the user was in last: focus moves to the view when they type a question. */
  private editor: vscode.TextEditor | undefined = vscode.window.activeTextEditor;
  private readonly subscriptions: vscode.Disposable[] = [];

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly server: Server,
  ) {
    this.subscriptions.push(
      vscode.window.onDidChangeActiveTextEditor((e) => {
        if (e && isChatTarget(e.document)) {
          this.editor = e;
        }
        this.postAttachment();
      }),
      vscode.window.onDidChangeTextEditorSelection((e) => {
        if (e.textEditor === this.editor) {
          this.postAttachment();
        }
      }),
      server.onChatDelta.event((d) => {
        if (this.running && d.requestId === this.running.requestId) {
          this.running.answer.text += d.text;
          this.post({ type: "delta", text: d.text });
        }
      }),
      server.onChatTool.event((t) => {
        if (this.running && t.requestId === this.running.requestId) {
          const tool = { name: t.name, status: t.status, summary: t.summary, arguments: t.arguments };
          const tools = this.running.answer.tools;
          const started = t.status === "started" ? -1 : tools.findIndex((x) => x.name === t.name && x.status === "started");
          if (started >= 0) {
            tools[started] = tool;
          } else {
            tools.push(tool);
          }
          this.post({ type: "tools", tools });
        }
      }),
    );
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    this.view = view;
    const media = vscode.Uri.joinPath(this.context.extensionUri, "media");
    const out = vscode.Uri.joinPath(this.context.extensionUri, "out");
    view.webview.options = { enableScripts: true, localResourceRoots: [media, out] };
    view.webview.html = this.html(view.webview);
    view.webview.onDidReceiveMessage((m: FromView) => void this.receive(m), undefined, this.subscriptions);
    view.onDidDispose(() => {
      if (this.view === view) {
        this.view = undefined;
      }
    });
  }

  /** Shows the chat view (VS Code creates it on first show). */
  async reveal(): Promise<void> {
    await vscode.commands.executeCommand(`${ChatView.viewId}.focus`);
  }

  newChat(): void {
    this.running?.cancel.cancel();
    this.sessionId = undefined;
    this.turns = [];
    this.note = undefined;
    this.postReset();
    void this.listSessions();
  }

  /** Lists the server's sessions in a quick pick and reopens the one picked. */
  async pickSession(): Promise<void> {
    const sessions = await this.fetchSessions();
    if (typeof sessions === "string") {
      void vscode.window.showErrorMessage(`Kimi: ${sessions}`);
      return;
    }
    if (sessions.length === 0) {
      void vscode.window.showInformationMessage("Kimi: no chat sessions yet.");
      return;
    }
    const picked = await vscode.window.showQuickPick(
      sessions.map((s) => ({
        label: s.title || "(untitled)",
        description: `${s.turns} ${s.turns === 1 ? "turn" : "turns"}`,
        detail: new Date(s.updatedUnixMs).toLocaleString(),
        id: s.id,
      })),
      { title: "Kimi: chat sessions", placeHolder: "Reopen a conversation" },
    );
    if (picked) {
      await this.reveal();
      await this.openSession(picked.id);
    }
  }

  /**
   * Shows a session's earlier turns as kimi-lsp keeps them (`kimi/chatSession`), whichever
   * window or editor they were written in; the next question continues it.
   */
  private async openSession(id: string): Promise<void> {
    this.running?.cancel.cancel();
    this.sessionId = id;
    this.turns = [];
    this.note = "Loading the conversation…";
    this.postReset();
    const client = await this.server.ready();
    if (this.sessionId !== id) {
      return;
    }
    let transcript: SessionTranscript | undefined;
    let failed: string | undefined;
    if (!client) {
      failed = "kimi-lsp is not running";
    } else {
      try {
        transcript = await client.sendRequest<SessionTranscript>("kimi/chatSession", { sessionId: id });
      } catch (e) {
        failed = errorMessage(e);
      }
    }
    // Another session or a new chat was opened meanwhile.
    if (this.sessionId !== id) {
      return;
    }
    this.turns = (transcript?.turns ?? []).map(
      (t): Turn => (t.role === "user" ? { role: "user", text: t.text } : { role: "assistant", text: t.text, tools: [] }),
    );
    this.note = failed ? `The earlier turns could not be loaded (${failed}); a question continues the conversation.` : undefined;
    this.postReset();
  }

  private async receive(m: FromView): Promise<void> {
    switch (m.type) {
      case "ready":
        this.postReset();
        this.postAttachment();
        await this.listSessions();
        break;
      case "send":
        await this.send(m.text, m.attach, m.thinkHarder);
        break;
      case "stop":
        this.running?.cancel.cancel();
        break;
      case "newChat":
        this.newChat();
        break;
      case "listSessions":
        await this.listSessions();
        break;
      case "openSession":
        await this.openSession(m.id);
        break;
      case "copy":
        await vscode.env.clipboard.writeText(m.code);
        vscode.window.setStatusBarMessage("$(check) Kimi: code copied", 2000);
        break;
      case "insert":
        await this.insert(m.code);
        break;
    }
  }

  /** Asks `kimi/chat`; the answer streams in through `kimi/chatDelta` and `kimi/chatTool`. */
  async send(text: string, attach: boolean, thinkHarder = false): Promise<void> {
    const message = text.trim();
    if (!message || this.running) {
      return;
    }
    const client = await this.server.ready();
    const target = attach ? this.attachTarget() : undefined;
    const user: Turn = { role: "user", text: message, attachment: target ? attachmentLabel(target) : undefined };
    this.turns.push(user);
    this.post({ type: "turn", turn: user });
    const answer: AssistantTurn = { role: "assistant", text: "", tools: [] };
    this.turns.push(answer);
    if (!client) {
      answer.error = "kimi-lsp is not running. Check the notification, or run “Kimi: Restart Server”.";
      this.post({ type: "turn", turn: answer });
      this.post({ type: "done", turn: answer });
      return;
    }
    this.post({ type: "turn", turn: answer });
    const requestId = crypto.randomUUID();
    const cancel = new vscode.CancellationTokenSource();
    this.running = { requestId, cancel, answer };
    const params: Record<string, unknown> = { message, requestId };
    if (this.sessionId) {
      params.sessionId = this.sessionId;
    }
    if (thinkHarder) {
      // Routing rules with `thinkHarder = true` pick a stronger model; without one it changes nothing.
      params.thinkHarder = true;
    }
    if (target) {
      const c2p = client.code2ProtocolConverter;
      params.textDocument = { uri: c2p.asUri(target.document.uri) };
      // An empty range is the cursor: the server then sends the code around it.
      params.range = c2p.asRange(target.selection);
      // All of them: they replace what the server last heard about this file.
      const diagnostics = vscode.languages.getDiagnostics(target.document.uri);
      if (diagnostics.length > 0) {
        params.diagnostics = await c2p.asDiagnostics(diagnostics);
      }
    }
    try {
      const result = await client.sendRequest<ChatResult>("kimi/chat", params, cancel.token);
      this.sessionId = result.sessionId;
      answer.text = result.text;
    } catch (e) {
      if (cancel.token.isCancellationRequested || isCancellation(e)) {
        answer.stopped = true;
      } else {
        answer.error = errorMessage(e);
      }
    } finally {
      cancel.dispose();
      if (this.running?.requestId === requestId) {
        this.running = undefined;
      }
    }
    this.post({ type: "done", turn: answer });
    await this.listSessions();
  }

  private async insert(code: string): Promise<void> {
    const editor = this.editor;
    if (!editor || editor.document.isClosed) {
      void vscode.window.showWarningMessage("Kimi: open a file and put the cursor where the code should go.");
      return;
    }
    const shown = await vscode.window.showTextDocument(editor.document, editor.viewColumn);
    const ok = await shown.edit((b) => {
      for (const s of shown.selections) {
        b.replace(s, code);
      }
    });
    if (!ok) {
      void vscode.window.showWarningMessage("Kimi: the code could not be inserted (the document changed); try again.");
    }
  }

  private async fetchSessions(): Promise<SessionInfo[] | string> {
    const client = await this.server.ready();
    if (!client) {
      return "kimi-lsp is not running.";
    }
    try {
      const r = await client.sendRequest<{ sessions: SessionInfo[] }>("kimi/chatSessions", {});
      return r.sessions;
    } catch (e) {
      return `listing chat sessions failed: ${errorMessage(e)}`;
    }
  }

  private async listSessions(): Promise<void> {
    if (!this.view) {
      return;
    }
    const sessions = await this.fetchSessions();
    this.post(typeof sessions === "string" ? { type: "sessions", sessions: [], error: sessions } : { type: "sessions", sessions });
  }

  private attachTarget(): vscode.TextEditor | undefined {
    const e = this.editor;
    return e && !e.document.isClosed && isChatTarget(e.document) ? e : undefined;
  }

  private postAttachment(): void {
    const target = this.attachTarget();
    this.post({ type: "attachment", label: target ? attachmentLabel(target) : undefined });
  }

  private postReset(): void {
    this.post({ type: "reset", turns: this.turns, running: this.running !== undefined, note: this.note });
  }

  private post(m: ToView): void {
    void this.view?.webview.postMessage(m);
  }

  private html(webview: vscode.Webview): string {
    const nonce = crypto.randomBytes(16).toString("base64");
    const script = webview.asWebviewUri(vscode.Uri.joinPath(this.context.extensionUri, "out", "chat.js"));
    const style = webview.asWebviewUri(vscode.Uri.joinPath(this.context.extensionUri, "media", "chat.css"));
    const csp = [
      "default-src 'none'",
      `style-src ${webview.cspSource}`,
      `img-src ${webview.cspSource} data:`,
      `script-src 'nonce-${nonce}'`,
    ].join("; ");
    return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${style.toString()}">
<title>Kimi</title>
</head>
<body>
<main id="messages" aria-live="polite"></main>
<section id="welcome">
  <p>Ask Kimi about your code. Mention files as <code>@path/to/file</code>; the selection in the editor can go along.</p>
  <h2>Recent chats</h2>
  <ul id="sessions"></ul>
</section>
<form id="composer">
  <div class="options">
    <label id="attach-label"><input type="checkbox" id="attach" checked> <span id="attach-text">No file to attach</span></label>
    <label title="Asks routing rules with thinkHarder = true for a stronger model (kimi.rules)"><input type="checkbox" id="think"> Think harder</label>
  </div>
  <textarea id="input" rows="3" placeholder="Ask Kimi… (Enter to send, Shift+Enter for a new line)" aria-label="Message to Kimi"></textarea>
  <div class="buttons">
    <button type="button" id="stop" class="secondary" hidden>Stop</button>
    <button type="submit" id="send">Send</button>
  </div>
</form>
<script nonce="${nonce}" src="${script.toString()}"></script>
</body>
</html>`;
  }

  dispose(): void {
    this.running?.cancel.cancel();
    for (const d of this.subscriptions) {
      d.dispose();
    }
  }
}

/** Documents the server has open (the client's document selector): files and untitled buffers. */
function isChatTarget(doc: vscode.TextDocument): boolean {
  return doc.uri.scheme === "file" || doc.uri.scheme === "untitled";
}

function attachmentLabel(e: vscode.TextEditor): string {
  const name = e.document.isUntitled ? e.document.uri.path : path.basename(e.document.uri.fsPath);
  const s = e.selection;
  if (s.isEmpty) {
    return name;
  }
  const last = s.end.character === 0 && s.end.line > s.start.line ? s.end.line - 1 : s.end.line;
  return last === s.start.line ? `${name}, line ${s.start.line + 1}` : `${name}, lines ${s.start.line + 1}–${last + 1}`;
}
