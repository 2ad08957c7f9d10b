// Drives the real VS Code workbench (code-server) in Debian's Chromium for
// tests/e2e/editor_vscode.rs, which starts code-server, the Moonshot stand-in and this script.
//
// Environment: KIMI_CS_URL (code-server's address), KIMI_WORKSPACE (the folder), KIMI_FILE (the
// file to type in, relative to the folder), KIMI_TYPE (what to type at its end), KIMI_GHOST (the
// stand-in's completion, expected as ghost text), KIMI_CHAT_QUESTION, KIMI_CHAT_ANSWER_START and
// KIMI_CHAT_ANSWER_END (the first and last pieces of the stand-in's streamed chat answer),
// KIMI_CHAT_CODE (a line of the answer's code block), KIMI_NOTEBOOK (a Jupyter notebook to complete
// in) and KIMI_NOTEBOOK_TYPE (what to type in its last cell), KIMI_ACTION (the title of the code action to
// pick on the function's name), KIMI_ACTION_EDIT (a line its edit adds), KIMI_SETTINGS_MODEL (the
// chat model to set in the Settings editor), KIMI_USER_SETTINGS (the settings.json it lands in),
// KIMI_ARTIFACTS (where screenshots go).
//
// Protocol with the Rust test on stdio: the script prints `PHASE action` before it picks the code
// action, `PHASE chat` before it asks the chat and `PHASE stop` before it asks a question it will
// stop (the test then switches the stand-in's answer), and waits for a line on stdin after each. Each check prints
// `OK …`; a failure prints `FAIL …`, saves a screenshot and exits non-zero.
import { chromium } from "playwright-core";
import * as fs from "node:fs";
import * as path from "node:path";
import * as readline from "node:readline";

const env = (name) => {
  const v = process.env[name];
  if (v === undefined) {
    throw new Error(`${name} is not set`);
  }
  return v;
};
const url = env("KIMI_CS_URL");
const workspace = env("KIMI_WORKSPACE");
const file = env("KIMI_FILE");
const typed = env("KIMI_TYPE");
const ghost = env("KIMI_GHOST");
const question = env("KIMI_CHAT_QUESTION");
const answerStart = env("KIMI_CHAT_ANSWER_START");
const answerEnd = env("KIMI_CHAT_ANSWER_END");
const chatCode = env("KIMI_CHAT_CODE");
const actionTitle = env("KIMI_ACTION");
const actionEdit = env("KIMI_ACTION_EDIT");
const notebookFile = env("KIMI_NOTEBOOK");
const notebookTyped = env("KIMI_NOTEBOOK_TYPE");
const artifacts = env("KIMI_ARTIFACTS");
const settingsModel = env("KIMI_SETTINGS_MODEL");
const userSettings = env("KIMI_USER_SETTINGS");
fs.mkdirSync(artifacts, { recursive: true });

// Generous: code-server starts the extension host and kimi-lsp on a 2-core machine.
const LONG = 120_000;
const stdinLines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();

/** Monaco renders spaces as U+00A0 in the view. */
const plain = (s) => (s ?? "").replace(/\u00a0/g, " ");

async function shot(page, name) {
  await page.screenshot({ path: path.join(artifacts, `${name}.png`) }).catch((e) => console.log(`screenshot ${name}: ${e}`));
}

/** Polls `read` until `check` accepts its value; returns that value or throws with the last one. */
/** Runs a command from the Command Palette (F1) by its title, once the palette lists it. */
async function runCommand(page, title) {
  await page.keyboard.press("F1");
  const quick = page.locator(".quick-input-widget input");
  await quick.waitFor({ timeout: LONG });
  await quick.fill(`>${title}`);
  const name = title.replace(/^[^:]*: /, "");
  await page.locator(".quick-input-list .monaco-list-row", { hasText: name }).first().waitFor({ timeout: LONG });
  await page.keyboard.press("Enter");
}

async function poll(what, read, check, timeout = LONG) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await read();
      if (check(last)) {
        return last;
      }
    } catch (e) {
      last = `(${e.message.split("\n")[0]})`;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}; last seen: ${JSON.stringify(last)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

const browser = await chromium.launch({
  executablePath: process.env.KIMI_CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage"],
});
let page;
let failed = false;
try {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  // Clipboard access for the chat's Copy button is not needed: copying goes through the extension.
  page = await context.newPage();
  page.on("pageerror", (e) => console.log(`page error: ${e.message}`));
  await page.goto(`${url}/?folder=${encodeURIComponent(workspace)}`);
  await page.waitForSelector(".monaco-workbench", { timeout: LONG });
  console.log("OK workbench loaded");

  // The status bar item appears once the extension is active; it names the completion model
  // once kimi-lsp answered kimi/status, which proves the server started.
  const statusItem = page.locator("#kimi-lsp\\.kimi-lsp\\.kimi\\.status, [id$='kimi.status']").first();
  const statusText = await poll(
    "the Kimi status-bar item with the model",
    async () => plain(await statusItem.innerText({ timeout: 1000 })),
    (t) => t.includes("kimi-k2"),
  );
  console.log(`OK status bar: ${statusText.trim()}`);
  await shot(page, "01-workbench");

  // Open the file from the Explorer (Ctrl+P would go to whatever has focus first).
  const base = path.basename(file);
  await page.getByRole("treeitem", { name: base }).first().click({ timeout: LONG });
  const editor = page.locator(".editor-instance .monaco-editor").first();
  await editor.locator(".view-lines").waitFor({ timeout: LONG });
  await editor.locator(".view-lines").click();
  await page.keyboard.press("Control+End");
  await page.keyboard.type(typed, { delay: 60 });
  console.log("OK typed");

  const ghostText = await poll(
    "ghost text with the stand-in's completion",
    async () => plain((await editor.locator('[class*="ghost-text"]').allInnerTexts()).join("")),
    (t) => t.includes(ghost),
  );
  console.log(`OK ghost text: ${ghostText.trim()}`);
  await shot(page, "02-ghost-text");

  await page.keyboard.press("Tab");
  const accepted = await poll(
    "the accepted completion in the buffer",
    async () => plain(await editor.locator(".view-lines").innerText()),
    (t) => t.includes(`${typed.trimStart()}${ghost}`),
  );
  console.log(`OK accepted: ${JSON.stringify(accepted.split("\n").filter((l) => l.includes(ghost))[0])}`);
  await poll(
    "the ghost text to go away after Tab",
    async () => plain((await editor.locator('[class*="ghost-text"]').allInnerTexts()).join("")),
    (t) => !t.includes(ghost),
  );
  // Saving lets the test read the buffer from disk as well.
  await page.keyboard.press("Control+S");
  await shot(page, "03-accepted");
  console.log("OK saved");

  // A Jupyter notebook: ghost text in its last code cell too (kimi-lsp reads the other cells
  // through notebookDocument/*; the test checks that they reached the model).
  await page.getByRole("treeitem", { name: notebookFile }).first().click({ timeout: LONG });
  // The last code cell's editor, found by its text: each cell is an editor of its own.
  const lastCell = page.locator(".monaco-editor", { hasText: "count = len(" }).last();
  await lastCell.waitFor({ timeout: LONG });
  await lastCell.locator(".view-lines").click();
  await page.keyboard.press("Control+End");
  await page.keyboard.press("Enter");
  await page.keyboard.type(notebookTyped, { delay: 60 });
  const cellGhost = await poll(
    "ghost text in the notebook cell",
    async () => plain((await lastCell.locator('[class*="ghost-text"]').allInnerTexts()).join("")),
    (t) => t.includes(ghost),
  );
  console.log(`OK notebook ghost text: ${cellGhost.trim()}`);
  await shot(page, "03b-notebook-ghost-text");
  await page.keyboard.press("Tab");
  await poll(
    "the accepted completion in the cell",
    async () => plain(await lastCell.locator(".view-lines").innerText()),
    (t) => t.includes(`${notebookTyped}${ghost}`),
  );
  await page.keyboard.press("Control+S");
  await poll(
    "the notebook saved with the completion",
    () => fs.readFileSync(path.join(workspace, notebookFile), "utf8"),
    (t) => t.includes(`${notebookTyped}${ghost}`),
  );
  console.log("OK notebook cell accepted and saved");
  // Back to the Python file, alone, for what follows.
  await runCommand(page, "View: Close All Editors");
  await lastCell.waitFor({ state: "hidden", timeout: LONG });
  await page.getByRole("treeitem", { name: base }).first().click({ timeout: LONG });
  await editor.locator(".view-lines").waitFor({ timeout: LONG });
  await editor.locator(".view-lines").click();

  // A code action from the Quick Fix menu (Ctrl+., what the lightbulb opens) with the cursor on
  // the function's name: picking it runs the model and its edit lands in the buffer.
  console.log("PHASE action");
  await stdinLines.next();
  await page.keyboard.press("Control+Home");
  for (let i = 0; i < "def a".length; i++) {
    await page.keyboard.press("ArrowRight");
  }
  const actionItem = page.locator(".action-widget .monaco-list-row", { hasText: actionTitle }).first();
  await poll(
    `"${actionTitle}" in the Quick Fix menu`,
    async () => {
      if (await actionItem.isVisible()) {
        return true;
      }
      // The menu may have opened before kimi-lsp answered, or closed: ask again.
      await page.keyboard.press("Escape");
      await page.keyboard.press("Control+.");
      await actionItem.waitFor({ timeout: 5000 });
      return true;
    },
    (v) => v === true,
  );
  const offered = await page.locator(".action-widget .monaco-list-row").allInnerTexts();
  console.log(`OK action menu: ${JSON.stringify(offered.map(plain))}`);
  await shot(page, "03a-action-menu");
  await actionItem.click();
  const documented = await poll(
    "the code action's edit in the buffer",
    async () => plain(await editor.locator(".view-lines").innerText()),
    (t) => t.includes(actionEdit),
  );
  console.log(`OK action applied: ${JSON.stringify(documented.split("\n").slice(0, 3))}`);
  await shot(page, "03b-action-applied");
  await page.keyboard.press("Control+S");

  // The chat view: its activity-bar entry, then the webview (two nested frames).
  console.log("PHASE chat");
  await stdinLines.next();
  await page.locator(".activitybar").getByRole("tab", { name: "Kimi" }).click({ timeout: LONG });
  const view = page.frameLocator("iframe.webview.ready").frameLocator("#active-frame");
  const input = view.locator("#input");
  await input.waitFor({ timeout: LONG });
  await poll("the current file offered as attachment", () => view.locator("#attach-text").innerText(), (t) => t.includes(base));
  await input.fill(question);
  await input.press("Enter");
  const answer = view.locator(".turn.assistant .body").last();
  // The answer arrives in pieces: the view shows the first before the last has been sent.
  const partial = await poll("the first piece of the streamed answer", () => answer.innerText(), (t) => t.includes(answerStart));
  if (partial.includes(answerEnd)) {
    throw new Error(`the answer did not stream: it appeared whole: ${JSON.stringify(partial)}`);
  }
  console.log(`OK streaming: ${JSON.stringify(partial)}`);
  await shot(page, "04-chat-streaming");
  const whole = await poll("the whole answer", () => answer.innerText(), (t) => t.includes(answerEnd));
  console.log(`OK answer: ${JSON.stringify(whole)}`);
  const code = await poll(
    "the answer's code block rendered with Copy and Insert buttons",
    async () => {
      const block = view.locator(".turn.assistant .code-block").last();
      const buttons = await block.locator("button").allInnerTexts();
      return { code: await block.locator("pre code").innerText({ timeout: 1000 }), buttons };
    },
    (v) => v.code.includes(chatCode) && v.buttons.includes("Copy") && v.buttons.includes("Insert"),
  );
  console.log(`OK code block: ${JSON.stringify(code)}`);
  await poll("the Send button enabled again", () => view.locator("#send").isEnabled(), (v) => v === true);
  const tools = await poll(
    "the tool call listed with the answer",
    () => view.locator(".turn.assistant .tools li").allInnerTexts(),
    (t) => t.length === 1 && t[0].includes("read_file") && t[0].startsWith("✓"),
  );
  console.log(`OK tools: ${JSON.stringify(tools)}`);
  await shot(page, "05-chat-answer");

  // Insert puts the block into the editor at the cursor.
  await view.locator(".turn.assistant .code-block button[data-action='insert']").last().click();
  await poll("the inserted code in the editor", async () => plain(await editor.locator(".view-lines").innerText()), (t) => t.includes(chatCode));
  console.log("OK inserted");
  await shot(page, "06-inserted");

  // Stop: a slow answer is cut off; the view says so and takes a new question.
  console.log("PHASE stop");
  await stdinLines.next();
  await input.fill("Tell me a long story");
  await input.press("Enter");
  const slow = view.locator(".turn.assistant").last();
  await poll("the first piece of the slow answer", () => slow.locator(".body").innerText(), (t) => t.length > 0);
  await view.locator("#stop").click();
  await poll("the answer marked as stopped", () => slow.locator(".error.stopped").innerText({ timeout: 1000 }), (t) => t.includes("Stopped"));
  await poll("the Send button enabled after Stop", () => view.locator("#send").isEnabled(), (v) => v === true);
  console.log("OK stopped");
  await shot(page, "07-stopped");

  // Sessions: a new chat lists the earlier one (kimi/chatSessions); picking it shows its turns again.
  await page.locator("[id='workbench.parts.sidebar']").getByRole("button", { name: "New Chat" }).click({ timeout: LONG });
  const listed = view.locator("#sessions button.link");
  const titles = await poll("the earlier session in the list", () => listed.allInnerTexts(), (t) => t.some((x) => x.includes(question.slice(0, 12))));
  console.log(`OK sessions: ${JSON.stringify(titles)}`);
  await shot(page, "08-sessions");
  await listed.filter({ hasText: question.slice(0, 12) }).first().click();
  await poll("the reopened session's answer", () => view.locator(".turn.assistant .body").first().innerText(), (t) => t.includes(answerEnd));
  // The turns come from kimi-lsp (kimi/chatSession): the question and its answer, and not the
  // stopped question, which the server does not keep.
  const reopened = await poll(
    "the reopened session's turns as kimi-lsp keeps them",
    () => view.locator(".turn").allInnerTexts(),
    (t) => t.length === 2 && t[0].includes(question) && t[1].includes(answerEnd),
  );
  console.log(`OK reopened: ${reopened.length} turns`);
  await shot(page, "09-reopened");

  // A setting changed in the Settings editor (where the schema's description shows) reaches
  // kimi-lsp live, through workspace/didChangeConfiguration.
  await editor.locator(".view-lines").click();
  await runCommand(page, "Preferences: Open User Settings");
  await page.locator(".settings-editor").waitFor({ timeout: LONG });
  await page.keyboard.type("kimi.models.chat", { delay: 20 });
  const row = page.locator(".settings-editor .setting-item-contents", { hasText: "Model for the chat view" }).first();
  const field = row.locator("input").first();
  await field.waitFor({ timeout: LONG });
  await field.fill(settingsModel);
  await field.press("Tab");
  await shot(page, "10-settings");
  await poll("the setting saved in settings.json", () => fs.readFileSync(userSettings, "utf8"), (t) => t.includes(settingsModel));
  console.log("OK setting changed");
  await page.keyboard.press("Escape");
  await page.locator(".settings-editor").waitFor({ state: "hidden", timeout: LONG }).catch(async () => {
    // The Settings editor opened as an ordinary editor tab: close that instead.
    await page.keyboard.press("Control+W");
  });

  // The status-bar item: a click shows usage (kimi/usage) with the accepted completion, and the
  // models (kimi/status), where the new chat model shows once kimi-lsp applied it.
  const dialog = page.locator(".monaco-dialog-box");
  let seen = "";
  await poll(
    "the usage dialog naming the chat model from the changed setting",
    async () => {
      await statusItem.click();
      try {
        seen = plain(await dialog.innerText({ timeout: 5000 }));
        if (seen.includes(`chat ${settingsModel}`)) {
          await shot(page, "11-usage");
        }
        return seen;
      } finally {
        await page.keyboard.press("Escape");
        await dialog.waitFor({ state: "hidden", timeout: 5000 });
      }
    },
    (t) =>
      t.includes("This session:") &&
      t.includes("Completions: 2 of") &&
      /Median wait for an answer: completion \d+ ms/.test(t) &&
      /kimi-lsp's own time per completion \(the model's left out\): [\d.]+ ms median/.test(t) &&
      t.includes(`chat ${settingsModel}`),
  );
  console.log(`OK usage: ${JSON.stringify(seen)}`);

  // "Kimi: Toggle Completions for This Language" turns Python off in the user's settings;
  // kimi-lsp applies that live, and an explicit request (Trigger Inline Suggestion, Alt+\ on a
  // desktop) then says why nothing comes.
  await editor.locator(".view-lines").click();
  await runCommand(page, "Kimi: Toggle Completions for This Language");
  await poll(
    "python turned off in settings.json",
    () => fs.readFileSync(userSettings, "utf8"),
    (t) => /"kimi\.completion\.languages":\s*\{\s*"python":\s*false\s*\}/.test(t),
  );
  const toasts = page.locator(".notifications-toasts");
  await toasts.getByText("completions off for python").first().waitFor({ timeout: LONG });
  console.log("OK completions off for python");
  // The status-bar item says so for the file in the editor, as kimi-lsp decides it.
  const offStatus = await poll(
    "the status bar saying completions are off here",
    async () => plain(await statusItem.innerText({ timeout: 1000 })),
    (t) => t.includes("(off here)"),
  );
  console.log(`OK status bar: ${offStatus.trim()}`);
  await editor.locator(".view-lines").click();
  await runCommand(page, "Trigger Inline Suggestion");
  await toasts.getByText("completions are off for python files").first().waitFor({ timeout: LONG });
  await shot(page, "12-off-for-python");
  console.log("OK kimi-lsp says why");
} catch (e) {
  failed = true;
  console.log(`FAIL ${e.message}`);
  if (page) {
    await shot(page, "failure");
  }
} finally {
  await browser.close().catch(() => {});
}
process.exit(failed ? 1 : 0);
