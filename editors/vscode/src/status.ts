import * as vscode from "vscode";

/** `kimi/usageChanged` (docs/lsp-extensions.md). */
export interface UsageChanged {
  sessionRequests: number;
  sessionCost: number;
  lastRequest?: { feature: string; model: string; cost: number | null; outcome: string };
}

type ServerState = "starting" | "running" | "stopped";

/**
 * The status-bar item: the model in use, what Kimi is doing (idle / thinking / error), and this
 * session's spend. A click runs `kimi.showUsage`.
 */
export class StatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem("kimi.status", vscode.StatusBarAlignment.Right, 100);
  private server: ServerState = "starting";
  private serverDetail = "";
  private model = "";
  private inFlight = 0;
  private thinking = false;
  private thinkingTimer: NodeJS.Timeout | undefined;
  private sessionCost = 0;
  private sessionRequests = 0;
  private error: { message: string; at: Date } | undefined;
  private showError = false;
  /** Why the active editor's file gets no completions (kimi-lsp's `completionsOff`), if so. */
  private offHere: string | undefined;

  constructor() {
    this.item.name = "Kimi";
    this.item.command = "kimi.showUsage";
    this.render();
    this.item.show();
  }

  get lastError(): { message: string; at: Date } | undefined {
    return this.error;
  }

  setServer(state: ServerState, detail = ""): void {
    this.server = state;
    this.serverDetail = detail;
    this.render();
  }

  setOffHere(reason: string | undefined): void {
    if (reason !== this.offHere) {
      this.offHere = reason;
      this.render();
    }
  }

  setModel(model: string): void {
    this.model = model;
    this.render();
  }

  setUsage(u: UsageChanged): void {
    this.sessionCost = u.sessionCost;
    this.sessionRequests = u.sessionRequests;
    if (u.lastRequest?.model) {
      this.model = u.lastRequest.model;
    }
    this.render();
  }

  /**
   * A model request started; call the returned function when it ends. The spinner appears only
   * for requests that take a moment, so that fast ghost-text requests do not make it flicker.
   */
  begin(): (error?: string) => void {
    this.inFlight++;
    if (this.thinkingTimer === undefined && !this.thinking) {
      this.thinkingTimer = setTimeout(() => {
        this.thinkingTimer = undefined;
        this.thinking = this.inFlight > 0;
        this.render();
      }, 250);
    }
    let ended = false;
    return (error?: string) => {
      if (ended) {
        return;
      }
      ended = true;
      this.inFlight--;
      if (error !== undefined) {
        this.fail(error);
      } else {
        this.showError = false;
      }
      if (this.inFlight === 0) {
        clearTimeout(this.thinkingTimer);
        this.thinkingTimer = undefined;
        this.thinking = false;
      }
      this.render();
    };
  }

  fail(message: string): void {
    this.error = { message, at: new Date() };
    this.showError = true;
    this.render();
  }

  private render(): void {
    const spend = formatCost(this.sessionCost);
    const model = this.model || "Kimi";
    let icon: string;
    let state: string;
    if (this.server === "stopped") {
      icon = "$(circle-slash)";
      state = `not running${this.serverDetail ? `: ${this.serverDetail}` : ""}`;
    } else if (this.server === "starting") {
      icon = "$(loading~spin)";
      state = "starting";
    } else if (this.thinking) {
      icon = "$(loading~spin)";
      state = "thinking";
    } else if (this.showError) {
      icon = "$(warning)";
      state = "error";
    } else if (this.offHere) {
      icon = "$(circle-slash)";
      state = "no completions in this file";
    } else {
      icon = "$(sparkle)";
      state = "idle";
    }
    const off = this.offHere && this.server === "running" ? " (off here)" : "";
    this.item.text = `${icon} ${model} · ${spend}${off}`;
    this.item.backgroundColor =
      this.server === "stopped" || (this.showError && !this.thinking)
        ? new vscode.ThemeColor("statusBarItem.warningBackground")
        : undefined;
    const tip = new vscode.MarkdownString(undefined, true);
    tip.isTrusted = false;
    tip.appendMarkdown(`**Kimi** — ${state}\n\n`);
    tip.appendMarkdown(`Model: \`${model}\`\n\n`);
    tip.appendMarkdown(`This session: ${this.sessionRequests} requests, ${spend}\n\n`);
    if (this.offHere) {
      tip.appendMarkdown("Here: ");
      tip.appendText(this.offHere);
      tip.appendMarkdown("\n\n");
    }
    if (this.error) {
      tip.appendMarkdown("Last error: ");
      tip.appendText(`${this.error.message} (${this.error.at.toLocaleTimeString()})`);
      tip.appendMarkdown("\n\n");
    }
    tip.appendMarkdown("Click for usage and cost.");
    this.item.tooltip = tip;
    this.item.accessibilityInformation = { label: `Kimi ${state}, model ${model}, spent ${spend} this session` };
  }

  dispose(): void {
    clearTimeout(this.thinkingTimer);
    this.item.dispose();
  }
}

/** Costs are in the price table's currency (USD unless `kimi.prices` says otherwise). */
export function formatCost(cost: number): string {
  if (!Number.isFinite(cost)) {
    return "$?";
  }
  return cost < 0.01 && cost > 0 ? `$${cost.toFixed(4)}` : `$${cost.toFixed(2)}`;
}
