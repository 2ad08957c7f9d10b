// The chat view's script: renders the conversation (Markdown through marked, sanitized by
// DOMPurify) and sends the user's actions to the extension. It holds no state the extension
// does not also hold: a reset message redraws everything.
import DOMPurify from "dompurify";
import { Marked } from "marked";
import type { AssistantTurn, FromView, SessionInfo, ToolActivity, ToView, Turn } from "../protocol";

interface VsCodeApi {
  postMessage(message: FromView): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

const vscode = acquireVsCodeApi();
const markdown = new Marked({ gfm: true, breaks: false, async: false });

const messages = byId("messages");
const welcome = byId("welcome");
const sessionList = byId("sessions");
const composer = byId("composer") as HTMLFormElement;
const input = byId("input") as HTMLTextAreaElement;
const send = byId("send") as HTMLButtonElement;
const stop = byId("stop") as HTMLButtonElement;
const attach = byId("attach") as HTMLInputElement;
const attachText = byId("attach-text");
const think = byId("think") as HTMLInputElement;

/** The answer being streamed: its element and text so far. */
let current: { body: HTMLElement; tools: HTMLElement; text: string; scheduled: boolean } | undefined;

function byId(id: string): HTMLElement {
  const e = document.getElementById(id);
  if (!e) {
    throw new Error(`the chat view has no #${id}`);
  }
  return e;
}

function renderMarkdown(target: HTMLElement, text: string): void {
  const html = markdown.parse(text) as string;
  target.innerHTML = DOMPurify.sanitize(html);
  for (const pre of Array.from(target.querySelectorAll("pre"))) {
    const bar = document.createElement("div");
    bar.className = "code-actions";
    bar.append(button("Copy", "copy"), button("Insert", "insert"));
    const wrapper = document.createElement("div");
    wrapper.className = "code-block";
    pre.replaceWith(wrapper);
    wrapper.append(bar, pre);
  }
}

function button(label: string, action: string): HTMLButtonElement {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.dataset.action = action;
  b.title = action === "copy" ? "Copy the code" : "Insert the code at the cursor in the editor";
  return b;
}

function toolLine(tool: ToolActivity): HTMLElement {
  const li = document.createElement("li");
  li.className = `tool tool-${tool.status}`;
  const icon = tool.status === "started" ? "⋯" : tool.status === "done" ? "✓" : "⨯";
  li.textContent = `${icon} ${tool.name}${tool.summary ? ` — ${tool.summary}` : ""}`;
  return li;
}

function addTurn(turn: Turn): void {
  const el = document.createElement("article");
  el.className = `turn ${turn.role}`;
  const who = document.createElement("header");
  who.textContent = turn.role === "user" ? "You" : "Kimi";
  el.append(who);
  if (turn.role === "user") {
    const body = document.createElement("div");
    body.className = "body";
    body.textContent = turn.text;
    el.append(body);
    if (turn.attachment) {
      const a = document.createElement("div");
      a.className = "attachment";
      a.textContent = `Attached: ${turn.attachment}`;
      el.append(a);
    }
    messages.append(el);
  } else {
    const tools = document.createElement("ul");
    tools.className = "tools";
    const body = document.createElement("div");
    body.className = "body markdown";
    el.append(tools, body);
    messages.append(el);
    current = { body, tools, text: "", scheduled: false };
    fillAnswer(turn);
  }
  welcome.hidden = true;
  el.scrollIntoView({ block: "end" });
}

function fillAnswer(turn: AssistantTurn): void {
  if (!current) {
    return;
  }
  current.tools.replaceChildren(...turn.tools.map(toolLine));
  current.text = turn.text;
  renderMarkdown(current.body, turn.text);
  const article = current.body.parentElement;
  article?.querySelector(".error")?.remove();
  if (turn.error || turn.stopped) {
    const e = document.createElement("div");
    e.className = turn.error ? "error" : "error stopped";
    e.textContent = turn.error ?? "Stopped.";
    article?.append(e);
  }
}

/** Redraws the streamed answer at most once per frame, however fast the deltas arrive. */
function scheduleRender(): void {
  if (!current || current.scheduled) {
    return;
  }
  current.scheduled = true;
  const c = current;
  requestAnimationFrame(() => {
    c.scheduled = false;
    renderMarkdown(c.body, c.text);
    c.body.parentElement?.scrollIntoView({ block: "end" });
  });
}

function setRunning(running: boolean): void {
  stop.hidden = !running;
  send.disabled = running;
  messages.classList.toggle("running", running);
}

function showSessions(sessions: SessionInfo[], error?: string): void {
  sessionList.replaceChildren();
  if (error) {
    const li = document.createElement("li");
    li.className = "error";
    li.textContent = error;
    sessionList.append(li);
    return;
  }
  if (sessions.length === 0) {
    const li = document.createElement("li");
    li.textContent = "None yet.";
    sessionList.append(li);
  }
  for (const s of sessions.slice(0, 20)) {
    const li = document.createElement("li");
    const b = document.createElement("button");
    b.type = "button";
    b.className = "link";
    b.textContent = s.title || "(untitled)";
    b.title = `${s.turns} turns, ${new Date(s.updatedUnixMs).toLocaleString()}`;
    b.addEventListener("click", () => vscode.postMessage({ type: "openSession", id: s.id }));
    li.append(b);
    sessionList.append(li);
  }
}

window.addEventListener("message", (event: MessageEvent<ToView>) => {
  const m = event.data;
  switch (m.type) {
    case "reset": {
      messages.replaceChildren();
      current = undefined;
      if (m.note) {
        const n = document.createElement("p");
        n.className = "note";
        n.textContent = m.note;
        messages.append(n);
      }
      for (const t of m.turns) {
        addTurn(t);
      }
      welcome.hidden = m.turns.length > 0 || m.note !== undefined;
      setRunning(m.running);
      break;
    }
    case "turn":
      addTurn(m.turn);
      if (m.turn.role === "assistant") {
        setRunning(true);
      }
      break;
    case "delta":
      if (current) {
        current.text += m.text;
        scheduleRender();
      }
      break;
    case "tools":
      current?.tools.replaceChildren(...m.tools.map(toolLine));
      break;
    case "done":
      fillAnswer(m.turn);
      setRunning(false);
      input.focus();
      break;
    case "sessions":
      showSessions(m.sessions, m.error);
      break;
    case "attachment":
      attachText.textContent = m.label ? `Attach ${m.label}` : "No file to attach";
      attach.disabled = m.label === undefined;
      break;
  }
});

messages.addEventListener("click", (event) => {
  const target = event.target as HTMLElement;
  const action = target.dataset.action;
  if (action !== "copy" && action !== "insert") {
    return;
  }
  const code = target.closest(".code-block")?.querySelector("pre code, pre")?.textContent ?? "";
  vscode.postMessage({ type: action, code });
});

composer.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = input.value.trim();
  if (!text || send.disabled) {
    return;
  }
  vscode.postMessage({ type: "send", text, attach: attach.checked && !attach.disabled, thinkHarder: think.checked });
  input.value = "";
});

input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    composer.requestSubmit();
  }
});

stop.addEventListener("click", () => vscode.postMessage({ type: "stop" }));

vscode.postMessage({ type: "ready" });
