//! kimi-lsp in Helix, with Helix played by a script (Helix cannot be installed on these
//! machines). The script reads the shipped editors/helix/languages.toml as Helix reads it and
//! talks to the built server as Helix's LSP client does (helix-lsp and helix-term):
//!
//! - `initialize` with Helix's capabilities: position encodings utf-8, utf-32, utf-16 in that
//!   order, no inline completion, code actions with `codeAction/resolve`, `clientInfo.name` helix;
//!   the server entry's `args`, `environment` and `config` (as initializationOptions);
//! - never a `$/cancelRequest`: Helix stops waiting after the entry's `timeout` and lets the
//!   server finish;
//! - completion asked once two characters are typed (trigger kind Invoked, as Helix sends it),
//!   then again after every keystroke while the list is incomplete (kind 3), without waiting for
//!   the previous answer; the item is applied from its `textEdit`;
//! - a picked code action is resolved when it has no edit or no command, then its edit applied
//!   and its command run with `workspace/executeCommand`;
//! - every edit the server sends is applied to the local copy, reported with `didChange` in
//!   UTF-8 positions, then acknowledged.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kimi_lsp::text::Language;
use kimi_test_support::{file_uri, LspClient, Reply, Standin};
use serde::Deserialize;
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------
// The shipped configuration, parsed with the shapes and strictness of Helix's own
// (helix-core's LanguageConfiguration / LanguageServerConfiguration).

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct LanguagesToml {
    #[serde(default)]
    language_server: BTreeMap<String, ServerConfig>,
    #[serde(default)]
    language: Vec<LanguageConfig>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct ServerConfig {
    command: String,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    environment: BTreeMap<String, String>,
    config: Option<toml::Value>,
    /// Seconds Helix waits for an answer before giving up on a request.
    #[serde(default = "helix_default_timeout")]
    timeout: u64,
    #[serde(default)]
    required_root_patterns: Vec<String>,
}

fn helix_default_timeout() -> u64 {
    20
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct LanguageConfig {
    name: String,
    #[serde(default)]
    language_servers: Vec<ServerRef>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ServerRef {
    Name(String),
    WithFeatures(ServerFeatures),
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct ServerFeatures {
    name: String,
    #[serde(default)]
    only_features: Vec<String>,
    #[serde(default)]
    except_features: Vec<String>,
}

impl ServerRef {
    fn name(&self) -> &str {
        match self {
            ServerRef::Name(n) => n,
            ServerRef::WithFeatures(f) => &f.name,
        }
    }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

fn shipped() -> LanguagesToml {
    let path = repo().join("editors/helix/languages.toml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    toml::from_str(&text).unwrap_or_else(|e| panic!("Helix would refuse {}: {e}", path.display()))
}

fn kimi_entry(config: &LanguagesToml) -> &ServerConfig {
    config.language_server.get("kimi").expect("editors/helix/languages.toml has no [language-server.kimi]")
}

/// Helix's feature names, and whether Helix counts a server with these capabilities as offering
/// the feature (helix-lsp's `Client::supports_feature`). `None`: Helix has no such feature.
fn helix_feature_offered(feature: &str, caps: &Value) -> Option<bool> {
    let has = |key: &str| !caps[key].is_null() && caps[key] != json!(false);
    Some(match feature {
        "format" => has("documentFormattingProvider"),
        "goto-declaration" => has("declarationProvider"),
        "goto-definition" => has("definitionProvider"),
        "goto-type-definition" => has("typeDefinitionProvider"),
        "goto-reference" => has("referencesProvider"),
        "goto-implementation" => has("implementationProvider"),
        "signature-help" => has("signatureHelpProvider"),
        "hover" => has("hoverProvider"),
        "document-highlight" => has("documentHighlightProvider"),
        "completion" => has("completionProvider"),
        "code-action" => has("codeActionProvider"),
        "workspace-command" => has("executeCommandProvider"),
        "document-symbols" => has("documentSymbolProvider"),
        "workspace-symbols" => has("workspaceSymbolProvider"),
        "diagnostics" => true,
        "pull-diagnostics" => has("diagnosticProvider"),
        "rename-symbol" => has("renameProvider"),
        "inlay-hints" => has("inlayHintProvider"),
        "document-colors" => has("colorProvider"),
        _ => return None,
    })
}

/// From Helix's own languages.toml, for the languages the snippet configures: the languageId
/// Helix sends in `didOpen` (its `language-id`, else the name) and a file extension.
const HELIX_LANGUAGES: &[(&str, &str, &str)] = &[
    ("rust", "rust", "rs"),
    ("python", "python", "py"),
    ("typescript", "typescript", "ts"),
    ("tsx", "typescriptreact", "tsx"),
    ("javascript", "javascript", "js"),
    ("jsx", "javascriptreact", "jsx"),
    ("go", "go", "go"),
    ("java", "java", "java"),
    ("c-sharp", "c-sharp", "cs"),
    ("c", "c", "c"),
    ("cpp", "cpp", "cpp"),
    ("ruby", "ruby", "rb"),
    ("php", "php", "php"),
    ("kotlin", "kotlin", "kt"),
    ("swift", "swift", "swift"),
    ("markdown", "markdown", "md"),
    // Completed without a grammar.
    ("scala", "scala", "scala"),
    ("lua", "lua", "lua"),
    ("bash", "bash", "sh"),
    ("fish", "fish", "fish"),
    ("powershell", "powershell", "ps1"),
    ("perl", "perl", "pl"),
    ("r", "r", "r"),
    ("julia", "julia", "jl"),
    ("dart", "dart", "dart"),
    ("elixir", "elixir", "ex"),
    ("erlang", "erlang", "erl"),
    ("haskell", "haskell", "hs"),
    ("ocaml", "ocaml", "ml"),
    ("fsharp", "fsharp", "fs"),
    ("clojure", "clojure", "clj"),
    ("elm", "elm", "elm"),
    ("zig", "zig", "zig"),
    ("nim", "nim", "nim"),
    ("groovy", "groovy", "groovy"),
    ("sql", "sql", "sql"),
    ("html", "html", "html"),
    ("css", "css", "css"),
    ("scss", "scss", "scss"),
    ("vue", "vue", "vue"),
    ("svelte", "svelte", "svelte"),
    ("dockerfile", "dockerfile", "dockerfile"),
    ("make", "make", "mk"),
    ("cmake", "cmake", "cmake"),
    ("hcl", "terraform", "tf"),
    ("nix", "nix", "nix"),
    ("solidity", "solidity", "sol"),
    ("protobuf", "protobuf", "proto"),
    ("graphql", "graphql", "graphql"),
];

/// Languages for which Helix's own languages.toml lists no language server.
const HELIX_WITHOUT_SERVERS: &[&str] = &["powershell", "groovy", "sql", "make"];

/// Every `Language`, in a chain whose match is exhaustive: a new variant fails to compile here
/// until it is added, and then the test asks for it in the shipped snippet if it has a grammar.
fn all_languages() -> Vec<Language> {
    fn after(language: Language) -> Option<Language> {
        match language {
            Language::Rust => Some(Language::Python),
            Language::Python => Some(Language::TypeScript),
            Language::TypeScript => Some(Language::Tsx),
            Language::Tsx => Some(Language::JavaScript),
            Language::JavaScript => Some(Language::Go),
            Language::Go => Some(Language::Java),
            Language::Java => Some(Language::CSharp),
            Language::CSharp => Some(Language::C),
            Language::C => Some(Language::Cpp),
            Language::Cpp => Some(Language::Ruby),
            Language::Ruby => Some(Language::Php),
            Language::Php => Some(Language::Kotlin),
            Language::Kotlin => Some(Language::Swift),
            Language::Swift => Some(Language::PlainText),
            Language::PlainText => None,
        }
    }
    std::iter::successors(Some(Language::Rust), |l| after(*l)).collect()
}

// ---------------------------------------------------------------------------------------------
// Helix's side of the conversation.

/// What Helix announces in `initialize` (helix-lsp's `Client::initialize`).
fn helix_capabilities() -> Value {
    json!({
        "workspace": {
            "configuration": true,
            "didChangeConfiguration": {"dynamicRegistration": false},
            "workspaceFolders": true,
            "applyEdit": true,
            "symbol": {"dynamicRegistration": false},
            "executeCommand": {"dynamicRegistration": false},
            "inlayHint": {"refreshSupport": false},
            "workspaceEdit": {
                "documentChanges": true,
                "resourceOperations": ["create", "rename", "delete"],
                "failureHandling": "abort",
                "normalizesLineEndings": false
            },
            "didChangeWatchedFiles": {"dynamicRegistration": true, "relativePatternSupport": true},
            "fileOperations": {"willRename": true, "didRename": true},
            "diagnostic": {"refreshSupport": true}
        },
        "textDocument": {
            "completion": {
                "completionItem": {
                    "snippetSupport": true,
                    "resolveSupport": {"properties": ["documentation", "detail", "additionalTextEdits"]},
                    "insertReplaceSupport": true,
                    "deprecatedSupport": true,
                    "tagSupport": {"valueSet": [1]}
                },
                "completionItemKind": {}
            },
            "hover": {"contentFormat": ["markdown"]},
            "rename": {"dynamicRegistration": false, "prepareSupport": true, "honorsChangeAnnotations": false},
            "formatting": {"dynamicRegistration": false},
            "codeAction": {
                "codeActionLiteralSupport": {"codeActionKind": {"valueSet": [
                    "", "quickfix", "refactor", "refactor.extract", "refactor.inline", "refactor.rewrite",
                    "source", "source.organizeImports", "source.fixAll"
                ]}},
                "isPreferredSupport": true,
                "disabledSupport": true,
                "dataSupport": true,
                "resolveSupport": {"properties": ["edit", "command"]}
            },
            "diagnostic": {"dynamicRegistration": false, "relatedDocumentSupport": true},
            "publishDiagnostics": {"versionSupport": true, "tagSupport": {"valueSet": [1, 2]}},
            "inlayHint": {"dynamicRegistration": false}
        },
        "window": {"workDoneProgress": true, "showDocument": {"support": true}},
        "general": {"positionEncodings": ["utf-8", "utf-32", "utf-16"]}
    })
}

struct Doc {
    text: String,
    version: i32,
}

/// A document position in UTF-8 bytes, as negotiated.
fn pos(line: u32, character: u32) -> Value {
    json!({"line": line, "character": character})
}

fn range(start: Value, end: Value) -> Value {
    json!({"start": start, "end": end})
}

/// Byte offset of a UTF-8 LSP position in `text`.
fn offset(text: &str, position: &Value) -> usize {
    let line = position["line"].as_u64().unwrap() as usize;
    let character = position["character"].as_u64().unwrap() as usize;
    let start: usize = text.split_inclusive('\n').take(line).map(str::len).sum();
    let at = start + character;
    assert!(text.is_char_boundary(at), "position {position} is inside a UTF-8 character of {text:?}");
    at
}

struct Helix {
    lsp: LspClient,
    dir: PathBuf,
    /// The entry's `config`, which Helix also answers `workspace/configuration` with.
    config: Value,
    docs: HashMap<String, Doc>,
    responses: HashMap<i64, Value>,
    /// Notifications and server requests, in arrival order.
    seen: Vec<Value>,
    /// How long a request may take before the test fails (Helix's `timeout` would be longer).
    patience: Duration,
}

impl Helix {
    /// Starts the server as Helix starts the `kimi` entry: its args and environment, from the
    /// workspace root, with `config` as initializationOptions. Returns the server's capabilities.
    async fn start(entry: &ServerConfig, standin: &Standin, dir: &Path, data: &Path) -> (Helix, Value) {
        let base = standin.base_url();
        let data = data.to_string_lossy().into_owned();
        let mut env: Vec<(&str, &str)> =
            vec![("MOONSHOT_API_KEY", "sk-helix-test"), ("MOONSHOT_BASE_URL", &base), ("KIMI_LSP_DATA_DIR", &data)];
        env.extend(entry.environment.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let args: Vec<&str> = entry.args.iter().map(String::as_str).collect();
        let lsp = LspClient::spawn(Path::new(env!("CARGO_BIN_EXE_kimi-lsp-under-test")), &args, &env, Some(dir));
        let config = entry.config.as_ref().map(|c| serde_json::to_value(c).unwrap()).unwrap_or(Value::Null);
        let mut helix = Helix {
            lsp,
            dir: dir.to_path_buf(),
            config: config.clone(),
            docs: HashMap::new(),
            responses: HashMap::new(),
            seen: Vec::new(),
            patience: Duration::from_secs(15),
        };
        let root = file_uri(dir);
        let init = helix
            .request(
                "initialize",
                json!({
                    "processId": std::process::id(),
                    "workspaceFolders": [{"uri": root, "name": dir.file_name().unwrap().to_string_lossy()}],
                    "rootPath": dir,
                    "rootUri": root,
                    "initializationOptions": config,
                    "capabilities": helix_capabilities(),
                    "clientInfo": {"name": "helix", "version": "25.07.1"},
                }),
            )
            .await
            .unwrap_or_else(|e| panic!("initialize failed: {e}"));
        helix.lsp.notify("initialized", json!({}));
        (helix, init["capabilities"].clone())
    }

    fn uri(&self, name: &str) -> String {
        file_uri(&self.dir.join(name))
    }

    fn open(&mut self, name: &str, language_id: &str, text: &str) -> String {
        let uri = self.uri(name);
        // Helix numbers a document's first version 0.
        self.lsp.did_open(&uri, language_id, 0, text);
        self.docs.insert(uri.clone(), Doc { text: text.to_string(), version: 0 });
        uri
    }

    fn text(&self, uri: &str) -> &str {
        &self.docs[uri].text
    }

    /// Applies `edits` (ranges relative to the current text, as in one TextDocumentEdit) and
    /// sends them as one `didChange`, last edit first so each range still holds.
    fn change(&mut self, uri: &str, edits: &[Value]) {
        let doc = self.docs.get_mut(uri).unwrap_or_else(|| panic!("{uri} is not open"));
        let mut sorted: Vec<&Value> = edits.iter().collect();
        sorted.sort_by_key(|e| std::cmp::Reverse(offset(&doc.text, &e["range"]["start"])));
        let mut changes = Vec::new();
        for e in sorted {
            let (start, end) = (offset(&doc.text, &e["range"]["start"]), offset(&doc.text, &e["range"]["end"]));
            let new_text = e["newText"].as_str().unwrap();
            doc.text.replace_range(start..end, new_text);
            changes.push(json!({"range": e["range"], "text": new_text}));
        }
        doc.version += 1;
        let version = doc.version;
        self.lsp.did_change(uri, version, json!(changes));
    }

    /// One keystroke: `ch` inserted at (line, byte column).
    fn type_char(&mut self, uri: &str, line: u32, character: u32, ch: char) {
        let at = pos(line, character);
        self.change(uri, &[json!({"range": range(at.clone(), at), "newText": ch.to_string()})]);
    }

    async fn request(&mut self, method: &str, params: Value) -> Result<Value, String> {
        let id = self.lsp.send_request(method, params);
        self.response(id).await
    }

    /// Plays Helix until the answer to `id` arrives.
    async fn response(&mut self, id: i64) -> Result<Value, String> {
        let deadline = Instant::now() + self.patience;
        loop {
            if let Some(msg) = self.responses.remove(&id) {
                return match msg.get("error") {
                    Some(e) => Err(format!("error {}: {}", e["code"], e["message"])),
                    None => Ok(msg.get("result").cloned().unwrap_or(Value::Null)),
                };
            }
            self.pump(deadline, &format!("the answer to request {id}")).await;
        }
    }

    /// Plays Helix until `done` holds for what the server sent so far.
    async fn until(&mut self, what: &str, done: impl Fn(&Helix) -> bool) {
        let deadline = Instant::now() + self.patience;
        while !done(self) {
            self.pump(deadline, what).await;
        }
    }

    /// Handles what arrived, as Helix does; waits a little when nothing did.
    async fn pump(&mut self, deadline: Instant, what: &str) {
        let arrived = self.lsp.take_unread();
        if arrived.is_empty() {
            if Instant::now() > deadline {
                panic!(
                    "timed out waiting for {what}; the server sent:\n{}\nits stderr:\n{}",
                    self.seen.iter().map(|m| format!("  {m}")).collect::<Vec<_>>().join("\n"),
                    self.lsp.stderr_text()
                );
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
            return;
        }
        for msg in arrived {
            match (msg.get("id").and_then(Value::as_i64), msg.get("method").and_then(Value::as_str)) {
                (Some(id), None) => {
                    self.responses.insert(id, msg);
                }
                (_, Some(method)) if msg.get("id").is_some() => {
                    self.seen.push(msg.clone());
                    let id = msg["id"].clone();
                    let params = msg.get("params").cloned().unwrap_or(Value::Null);
                    match method {
                        "workspace/applyEdit" => {
                            let result = self.apply_workspace_edit(&params["edit"]);
                            self.lsp.reply(id, result);
                        }
                        "workspace/configuration" => {
                            let items = params["items"].as_array().cloned().unwrap_or_default();
                            let answers: Vec<Value> = items
                                .iter()
                                .map(|item| match item["section"].as_str() {
                                    Some(section) => section
                                        .split('.')
                                        .try_fold(&self.config, |v, key| v.get(key))
                                        .cloned()
                                        .unwrap_or(Value::Null),
                                    None => self.config.clone(),
                                })
                                .collect();
                            self.lsp.reply(id, json!(answers));
                        }
                        "window/workDoneProgress/create" | "client/registerCapability" => {
                            self.lsp.reply(id, Value::Null)
                        }
                        // Helix opens the file in a new buffer.
                        "window/showDocument" => self.lsp.reply(id, json!({"success": true})),
                        _ => self.lsp.reply_error(id, -32601, "Method not found"),
                    }
                }
                _ => self.seen.push(msg),
            }
        }
    }

    /// Helix's `apply_workspace_edit`: versioned edits only to the version it has; the changes
    /// go out as `didChange` before the reply.
    fn apply_workspace_edit(&mut self, edit: &Value) -> Value {
        let changes = edit["documentChanges"].as_array().cloned().unwrap_or_default();
        for change in &changes {
            if change.get("kind").is_some() {
                return json!({"applied": false, "failureReason": "the test expects no file operations"});
            }
            let uri = change["textDocument"]["uri"].as_str().unwrap().to_string();
            let Some(doc) = self.docs.get(&uri) else {
                return json!({"applied": false, "failureReason": format!("{uri} is not open")});
            };
            if !change["textDocument"]["version"].is_null() && change["textDocument"]["version"] != doc.version {
                return json!({"applied": false, "failureReason": "outdated document version"});
            }
            self.change(&uri, change["edits"].as_array().unwrap());
        }
        json!({"applied": true})
    }

    fn notifications(&self, method: &str) -> Vec<&Value> {
        self.seen.iter().filter(|m| m["method"] == method && m.get("id").is_none()).map(|m| &m["params"]).collect()
    }

    fn server_requests(&self, method: &str) -> Vec<&Value> {
        self.seen.iter().filter(|m| m["method"] == method && m.get("id").is_some()).map(|m| &m["params"]).collect()
    }

    /// What the server holds for `uri` (kimi/documentState: the test's probe, not Helix's).
    async fn server_text(&mut self, uri: &str) -> String {
        let state = self.request("kimi/documentState", json!({"textDocument": {"uri": uri}})).await.unwrap();
        state["text"].as_str().unwrap().to_string()
    }

    /// Shuts down once every metered model request has been announced, so none is left unread.
    /// The usage record is written just after the LSP response, so `kimi/status` may not count
    /// the last request yet; every call that reached the stand-in is metered.
    async fn shutdown(mut self, standin: &Standin) {
        let status = self.request("kimi/status", json!({})).await.unwrap();
        let metered = (status["sessionRequests"].as_u64().unwrap() as usize).max(standin.chat_requests().len());
        self.until("a kimi/usageChanged per model request", |h| h.notifications("kimi/usageChanged").len() >= metered)
            .await;
        let sent: Vec<Value> = self.lsp.take_unread();
        assert!(sent.is_empty(), "unhandled messages from the server: {sent:?}");
        // Helix shows these in its status line: nothing in these flows should alarm the user.
        let alarms: Vec<&Value> =
            self.notifications("window/showMessage").into_iter().filter(|m| m["type"] == 1 || m["type"] == 2).collect();
        assert!(alarms.is_empty(), "errors or warnings shown to the user: {alarms:?}");
        assert!(self.lsp.shutdown().await.success());
    }
}

fn completion(uri: &str, at: Value, trigger_kind: u8) -> Value {
    json!({"textDocument": {"uri": uri}, "position": at, "context": {"triggerKind": trigger_kind}})
}

fn items(list: &Value) -> Vec<Value> {
    list["items"].as_array().cloned().unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_shipped_languages_toml_adds_kimi_beside_each_language_it_completes() {
    let config = shipped();
    let kimi = kimi_entry(&config);

    // The command is the binary `cargo install --path server` puts on PATH.
    let manifest: toml::Value =
        toml::from_str(&std::fs::read_to_string(repo().join("server/Cargo.toml")).unwrap()).unwrap();
    let bins: Vec<&str> = manifest["bin"].as_array().unwrap().iter().map(|b| b["name"].as_str().unwrap()).collect();
    assert!(bins.contains(&kimi.command.as_str()), "`{}` is not a binary of the server: {bins:?}", kimi.command);
    assert!(kimi.required_root_patterns.is_empty(), "kimi must start in any directory");
    // Helix drops an answer that takes longer than `timeout`; the server waits up to
    // timeouts.firstByteMs for the model's first byte alone.
    let first_byte_ms = kimi_lsp::config::Timeouts::default().first_byte_ms;
    assert!(
        kimi.timeout * 1000 > first_byte_ms,
        "timeout = {} s gives up before the model's first byte may arrive ({first_byte_ms} ms)",
        kimi.timeout
    );

    let standin = Standin::start().await;
    let (dir, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (mut helix, caps) = Helix::start(kimi, &standin, dir.path(), data.path()).await;
    assert_eq!(caps["positionEncoding"], "utf-8", "Helix offers utf-8 first");

    let mut parsed = BTreeSet::new();
    for language in &config.language {
        let &(_, language_id, ext) = HELIX_LANGUAGES
            .iter()
            .find(|(name, _, _)| *name == language.name)
            .unwrap_or_else(|| panic!("`{}` is not one of the languages this test knows Helix for", language.name));
        let servers = &language.language_servers;
        let entry = servers.iter().find(|s| s.name() == "kimi");
        let Some(ServerRef::WithFeatures(kimi_ref)) = entry else {
            panic!("{}: kimi is missing or has no only-features (it would take over hover, goto…)", language.name)
        };
        assert!(
            HELIX_WITHOUT_SERVERS.contains(&language.name.as_str())
                || servers.iter().any(|s| s.name() != "kimi" && !config.language_server.contains_key(s.name())),
            "{}: language-servers replaces Helix's list, so the usual server must be listed too",
            language.name
        );
        assert!(kimi_ref.except_features.is_empty(), "{}: only-features and except-features both set", language.name);
        for feature in &kimi_ref.only_features {
            match helix_feature_offered(feature, &caps) {
                None => panic!("{}: `{feature}` is not a Helix feature name", language.name),
                Some(false) => panic!("{}: the server does not offer `{feature}`: {caps}", language.name),
                Some(true) => {}
            }
        }
        let features: BTreeSet<&str> = kimi_ref.only_features.iter().map(String::as_str).collect();
        let uri = helix.open(&format!("sample.{ext}"), language_id, "");
        let state = helix.request("kimi/documentState", json!({"textDocument": {"uri": uri}})).await.unwrap();
        if language.name == "markdown" {
            // Chat files: the "Ask Kimi" code action runs a command; no completions in prose.
            assert_eq!(features, BTreeSet::from(["code-action", "workspace-command"]), "markdown");
        } else {
            assert_eq!(
                features,
                BTreeSet::from(["code-action", "completion", "workspace-command"]),
                "{}",
                language.name
            );
            if Language::detect(language_id, &uri) == Language::PlainText {
                // Not parsed, but prompts name it: never "plain text".
                assert_eq!(state["language"], "plain text", "{}", language.name);
                let name = state["languageName"].as_str().unwrap();
                assert!(name != "plain text" && name != language_id, "{}: named {name:?}", language.name);
            } else {
                parsed.insert(state["language"].as_str().unwrap().to_string());
            }
        }
    }
    assert!(config.language.iter().any(|l| l.name == "markdown"), "chat files need kimi on markdown (README: Chat)");
    for language in all_languages().into_iter().filter(|l| l.grammar().is_some()) {
        assert!(
            parsed.contains(language.name()),
            "the snippet leaves out {}, which the server parses",
            language.name()
        );
    }
    helix.shutdown(&standin).await;
}

#[tokio::test]
async fn typing_gets_the_suggestion_as_a_completion_item_in_utf8_positions() {
    let config = shipped();
    let standin = Standin::start().await;
    let (dir, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (mut helix, _) = Helix::start(kimi_entry(&config), &standin, dir.path(), data.path()).await;

    // Byte 29 of line 1 is character 22 (UTF-32) and 23 (UTF-16): a wrong encoding shows.
    let line = "    let 名前 = \"🦀\"; let ";
    assert_eq!(line.len(), 29);
    let uri = helix.open("main.rs", "rust", &format!("fn main() {{\n{line}\n}}\n"));

    // Two characters typed, then Helix asks (as Invoked, after its completion-timeout).
    helix.type_char(&uri, 1, 29, 'g');
    helix.type_char(&uri, 1, 30, 'r');
    standin.push(Reply::text("and_total = 0;"));
    let first = helix.request("textDocument/completion", completion(&uri, pos(1, 31), 1)).await.unwrap();
    assert_eq!(first["isIncomplete"], true, "Helix asks again per keystroke only for incomplete lists: {first}");
    let item = &items(&first)[0];
    assert_eq!(item["textEdit"]["newText"], "grand_total = 0;", "{first}");
    assert_eq!(item["textEdit"]["range"], range(pos(1, 29), pos(1, 31)), "UTF-8 columns: {item}");
    assert_eq!(item["filterText"], "grand_total = 0;", "Helix filters on filterText against `gr`");

    // The user types on, away from the suggestion. With the list open and incomplete, Helix asks
    // after each keystroke and never cancels the request it no longer wants.
    standin.set_default(Reply::text("_rate = 2;").first_byte_delay(Duration::from_millis(150)));
    let mut asked = Vec::new();
    let mut word = String::from("gr");
    for ch in "owth".chars() {
        let col = 29 + word.len() as u32;
        helix.type_char(&uri, 1, col, ch);
        word.push(ch);
        asked.push((
            word.clone(),
            helix.lsp.send_request("textDocument/completion", completion(&uri, pos(1, col + 1), 3)),
        ));
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let mut last = Value::Null;
    for (word, id) in asked {
        let answer = helix.response(id).await.unwrap_or_else(|e| panic!("a superseded request failed: {e}"));
        // An older request answers empty, or with a suggestion for the text it was asked about.
        for item in items(&answer) {
            assert!(item["textEdit"]["newText"].as_str().unwrap().starts_with(&word), "stale: {item} for {word}");
            assert_eq!(item["textEdit"]["range"]["start"], pos(1, 29), "{item}");
        }
        last = answer;
    }
    let item = &items(&last)[0];
    assert_eq!(item["textEdit"]["newText"], "growth_rate = 2;", "{last}");
    assert_eq!(item["textEdit"]["range"], range(pos(1, 29), pos(1, 35)));
    assert_eq!(item["filterText"], "growth_rate = 2;");
    let calls = standin.chat_requests().len();
    assert!(calls <= 3, "{calls} model calls for two pauses in typing");

    // Typing into the suggestion is answered from memory.
    helix.type_char(&uri, 1, 35, '_');
    let typed = helix.request("textDocument/completion", completion(&uri, pos(1, 36), 3)).await.unwrap();
    let item = items(&typed)[0].clone();
    assert_eq!(item["textEdit"]["newText"], "growth_rate = 2;", "{typed}");
    assert_eq!(standin.chat_requests().len(), calls, "type-through called the model");

    // Accepting applies the item's textEdit; the server ends up with Helix's text.
    helix.change(&uri, &[item["textEdit"].clone()]);
    let expected = format!("fn main() {{\n{line}growth_rate = 2;\n}}\n");
    assert_eq!(helix.text(&uri), expected);
    assert_eq!(helix.server_text(&uri).await, expected);
    assert!(standin.chat_requests()[0]["messages"].to_string().contains("名前"), "the prompt lacks the line");
    helix.shutdown(&standin).await;
}

const TOTAL: &str = "fn total(xs: &[u32]) -> u32 {\n    // kimi: use iter().sum() — 合計 🦀\n    let mut t = 0;\n    for x in xs {\n        t += x;\n    }\n    t\n}\n";

/// Helix's `code_action` after the user picked `action` from the menu: resolve when the edit
/// or the command is missing, apply the edit, run the command (in the background). Returns the
/// command's id, if there was one.
async fn pick(helix: &mut Helix, action: &Value) -> Option<i64> {
    let action = if action["edit"].is_null() || action["command"].is_null() {
        helix.request("codeAction/resolve", action.clone()).await.unwrap_or_else(|_| action.clone())
    } else {
        action.clone()
    };
    if !action["edit"].is_null() {
        let result = helix.apply_workspace_edit(&action["edit"]);
        assert_eq!(result["applied"], true, "{result}");
    }
    let command = &action["command"];
    (!command.is_null()).then(|| {
        helix.lsp.send_request(
            "workspace/executeCommand",
            json!({"command": command["command"], "arguments": command["arguments"]}),
        )
    })
}

async fn code_actions(helix: &mut Helix, uri: &str, selection: Value) -> Vec<Value> {
    let listed = helix
        .request(
            "textDocument/codeAction",
            json!({"textDocument": {"uri": uri}, "range": selection, "context": {"diagnostics": [], "triggerKind": 1}}),
        )
        .await
        .unwrap();
    listed.as_array().cloned().unwrap_or_default()
}

fn titled(actions: &[Value], prefix: &str) -> Value {
    actions
        .iter()
        .find(|a| a["title"].as_str().unwrap_or("").starts_with(prefix))
        .unwrap_or_else(|| panic!("no `{prefix}` in {actions:#?}"))
        .clone()
}

#[tokio::test]
async fn a_picked_code_action_runs_in_the_background_and_its_edit_arrives_as_apply_edit() {
    let config = shipped();
    let standin = Standin::start().await;
    let (dir, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (mut helix, _) = Helix::start(kimi_entry(&config), &standin, dir.path(), data.path()).await;
    let uri = helix.open("lib.rs", "rust", TOTAL);

    // `x` on the loop's lines, then `space a`.
    let actions = code_actions(&mut helix, &uri, range(pos(2, 0), pos(7, 0))).await;
    assert!(standin.chat_requests().is_empty(), "listing called the model");
    let rewrite = titled(&actions, "Kimi: Rewrite — use iter().sum() — 合計 🦀");
    assert!(
        rewrite["command"].is_object() && rewrite["data"].is_null(),
        "Helix waits for codeAction/resolve on its UI thread: the model must run behind a command: {rewrite}"
    );
    standin.push(Reply::text("```rust\nlet t = xs.iter().sum();\nt\n```").first_byte_delay(Duration::from_millis(200)));
    let run = pick(&mut helix, &rewrite).await.expect("the rewrite runs as a command");
    helix.until("the rewrite's workspace/applyEdit", |h| !h.server_requests("workspace/applyEdit").is_empty()).await;
    let result = helix.response(run).await.unwrap();
    assert_eq!(result["applied"], true, "{result}");
    let expected = "fn total(xs: &[u32]) -> u32 {\n    let t = xs.iter().sum();\n    t\n}\n";
    assert_eq!(helix.text(&uri), expected);
    assert_eq!(helix.server_text(&uri).await, expected);
    let progress = helix.notifications("$/progress");
    assert!(
        progress.first().is_some_and(|p| p["value"]["kind"] == "begin")
            && progress.last().is_some_and(|p| p["value"]["kind"] == "end"),
        "Helix shows the model's progress: {progress:?}"
    );

    // Explain: the answer opens as a Markdown document.
    let actions = code_actions(&mut helix, &uri, range(pos(0, 3), pos(0, 3))).await;
    let explain = titled(&actions, "Kimi: Explain");
    standin.push(Reply::text("It adds up the numbers with `sum`."));
    let run = pick(&mut helix, &explain).await.expect("explain runs as a command");
    let result = helix.response(run).await.unwrap();
    assert_eq!(result["text"], "It adds up the numbers with `sum`.");
    let shown = helix.server_requests("window/showDocument");
    let path = shown[0]["uri"].as_str().unwrap().strip_prefix("file://").unwrap().to_string();
    let markdown = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert!(markdown.contains("It adds up the numbers with `sum`."), "{markdown}");
    assert_eq!(standin.chat_requests().len(), 2, "one model call per picked action, none for resolve");
    helix.shutdown(&standin).await;
}

#[tokio::test]
async fn ask_kimi_in_a_chat_file_streams_the_answer_into_it() {
    let config = shipped();
    let markdown = config.language.iter().find(|l| l.name == "markdown").expect("markdown is configured");
    assert!(markdown.language_servers.iter().any(|s| s.name() == "kimi"));
    let standin = Standin::start().await;
    let (dir, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (mut helix, _) = Helix::start(kimi_entry(&config), &standin, dir.path(), data.path()).await;
    let question = "## You\n\nWhat does 合計 mean? 🦀\n";
    let uri = helix.open("notes.kimi.md", "markdown", question);

    let actions = code_actions(&mut helix, &uri, range(pos(2, 0), pos(2, 1))).await;
    let ask = titled(&actions, "Ask Kimi");
    assert_eq!(ask["kind"], "source.kimi");
    let answer = ["It means “total”.\n", "\n", "```rust\nlet 合計 = 1 + 2;\n```\n", "Emoji: 🦀"];
    standin.push(Reply::text("unused").chunks(&answer).chunk_delay(Duration::from_millis(100)));
    let run = pick(&mut helix, &ask).await.expect("Ask Kimi is a command");
    assert_eq!(helix.response(run).await.unwrap(), Value::Null, "the command returns before the answer");
    assert!(
        helix.text(&uri).starts_with(&format!("{question}\n## Kimi\n\n")),
        "the command returns once the heading is in: {:?}",
        helix.text(&uri)
    );
    helix.until("the answer and the next `## You`", |h| h.text(&uri).ends_with("## You\n\n")).await;
    assert_eq!(helix.text(&uri), format!("{question}\n## Kimi\n\n{}\n\n## You\n\n", answer.concat()));
    let edits = helix.server_requests("workspace/applyEdit").len();
    assert!(edits >= 4, "heading, answer in pieces, next heading: {edits} edits");
    assert_eq!(helix.server_text(&uri).await, helix.text(&uri).to_string());
    helix.shutdown(&standin).await;
}
