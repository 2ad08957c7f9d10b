// Bundles the extension (Node, CommonJS, `vscode` provided by the editor) and the chat view's
// script (browser) into out/, so the .vsix carries no node_modules. Type checking is tsc's job
// (`npm run compile` runs it first); esbuild only strips types.
import * as esbuild from "esbuild";

const watch = process.argv.includes("--watch");
const common = { bundle: true, sourcemap: true, minify: !watch, logLevel: "warning" };
const builds = [
  { ...common, entryPoints: ["src/extension.ts"], outfile: "out/extension.js", platform: "node", format: "cjs", target: "node20", external: ["vscode"] },
  { ...common, entryPoints: ["src/webview/chat.ts"], outfile: "out/chat.js", platform: "browser", format: "iife", target: "es2022" },
];

if (watch) {
  for (const options of builds) {
    await (await esbuild.context(options)).watch();
  }
} else {
  await Promise.all(builds.map((options) => esbuild.build(options)));
}
