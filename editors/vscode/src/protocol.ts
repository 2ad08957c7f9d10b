// Messages between the extension and the chat view's script (src/webview/chat.ts), and the
// shapes of kimi-lsp's chat notifications (docs/lsp-extensions.md) that the view shows.

export interface SessionInfo {
  id: string;
  title: string;
  turns: number;
  updatedUnixMs: number;
}

export interface ToolActivity {
  name: string;
  status: "started" | "done" | "refused";
  summary: string;
  arguments: unknown;
}

export interface UserTurn {
  role: "user";
  text: string;
  /** What was attached, e.g. "main.rs, lines 3–7". */
  attachment?: string;
}

export interface AssistantTurn {
  role: "assistant";
  text: string;
  tools: ToolActivity[];
  error?: string;
  stopped?: boolean;
}

export type Turn = UserTurn | AssistantTurn;

/** Extension → view. */
export type ToView =
  | { type: "reset"; turns: Turn[]; running: boolean; note?: string }
  | { type: "turn"; turn: Turn }
  | { type: "delta"; text: string }
  /** The answer's tool activity so far; a finished call replaces its "started" entry. */
  | { type: "tools"; tools: ToolActivity[] }
  | { type: "done"; turn: AssistantTurn }
  | { type: "sessions"; sessions: SessionInfo[]; error?: string }
  | { type: "attachment"; label?: string };

/** View → extension. */
export type FromView =
  | { type: "ready" }
  | { type: "send"; text: string; attach: boolean; thinkHarder: boolean }
  | { type: "stop" }
  | { type: "newChat" }
  | { type: "listSessions" }
  | { type: "openSession"; id: string }
  | { type: "copy"; code: string }
  | { type: "insert"; code: string };
