//! `kimi-lsp prompt` and `kimi-lsp complete` from a terminal.

use std::process::{Command, Output};

use kimi_test_support::{ApiError, Reply, Standin};
use serde_json::json;

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kimi-lsp-under-test"));
    cmd.args(args)
        .env_clear()
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("XDG_DATA_HOME", home.path().join("data"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join(".git")).unwrap();
    std::fs::create_dir_all(dir.path().join("src")).unwrap();
    std::fs::write(
        dir.path().join("src/shapes.rs"),
        "pub fn area_of_circle(radius: f64) -> f64 {\n    3.14 * radius * radius\n}\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("src/main.rs"), "fn main() {\n    let a = area_of_circle(2.0);\n    let b = \n}\n")
        .unwrap();
    dir
}

#[test]
fn prompt_prints_the_exact_request_offline() {
    let dir = workspace();
    let location = format!("{}:3:13", dir.path().join("src/main.rs").display());
    let out = run(&["prompt", &location], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let body: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a JSON request body");
    assert_eq!(body["model"], "kimi-k2-turbo-preview");
    assert_eq!(body["stream"], true);
    let messages = body["messages"].as_array().unwrap();
    let last = messages.last().unwrap();
    assert_eq!(last["partial"], true);
    assert_eq!(last["content"], "    let b = ");
    assert!(body["messages"].to_string().contains("pub fn area_of_circle(radius: f64) -> f64"), "{body}");
}

#[test]
fn prompt_prints_the_prefill_a_self_hosted_server_is_sent() {
    let dir = workspace();
    let location = format!("{}:3:13", dir.path().join("src/main.rs").display());
    // Another server than Moonshot's: the request depends on its `/models`, which is not asked
    // offline; the note says so.
    let out = run(&["prompt", &location], &[("MOONSHOT_BASE_URL", "http://gpu-box:8000/v1")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("vLLM or SGLang server is sent `continue_final_message`"), "{stderr}");
    assert!(stderr.contains("`providers.moonshot.prefill`"), "{stderr}");
    let body: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(body["messages"].as_array().unwrap().last().unwrap()["partial"], true, "{body}");

    // Set by hand, it is what is printed, with no note.
    let home = tempfile::tempdir().unwrap();
    let settings = home.path().join("config/kimi-lsp");
    std::fs::create_dir_all(&settings).unwrap();
    std::fs::write(
        settings.join("config.toml"),
        "[providers.local]\nkind = \"openai\"\nbaseUrl = \"http://gpu-box:8000/v1\"\nprefill = \"continueFinalMessage\"\n\n\
         [models]\ncompletion = \"local/moonshotai/Kimi-K2-Instruct\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kimi-lsp-under-test"))
        .args(["prompt", &location])
        .env_clear()
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.is_empty(), "{stderr}");
    let body: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(body["model"], "moonshotai/Kimi-K2-Instruct");
    assert_eq!((&body["continue_final_message"], &body["add_generation_prompt"]), (&json!(true), &json!(false)));
    assert!(body["messages"].as_array().unwrap().last().unwrap().get("partial").is_none(), "{body}");
}

#[test]
fn prompt_shows_similar_code_from_the_file_beyond_what_it_shows_around_the_cursor() {
    let dir = workspace();
    let rule = "// ----------------------------------------\n".repeat(200);
    let text = format!(
        "fn load_users(path: &Path) -> Result<Vec<User>, LoadError> {{\n    \
         let text = std::fs::read_to_string(path).map_err(LoadError::Io)?;\n    \
         let users: Vec<User> = serde_json::from_str(&text).map_err(LoadError::Parse)?;\n    \
         Ok(users)\n}}\n{rule}fn load_teams(path: &Path) -> Result<Vec<Team>, LoadError> {{\n    \
         let text = std::fs::read_to_string(path).map_err(LoadError::Io)?;\n    let teams: Vec<Team> = \n}}\n"
    );
    std::fs::write(dir.path().join("src/load.rs"), text).unwrap();
    let location = format!("{}:208:28", dir.path().join("src/load.rs").display());
    let out = run(&["prompt", &location], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let body: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a JSON request body");
    assert_eq!(body["messages"].as_array().unwrap().last().unwrap()["content"], "    let teams: Vec<Team> = ");
    let user = body["messages"][1]["content"].as_str().unwrap();
    let (code_window, similar) = (user.find("<code_window>").unwrap(), user.find("<similar_code>"));
    assert!(!user[code_window..].contains("fn load_users"), "shown around the cursor already: {user}");
    assert!(similar.is_some_and(|at| at < code_window), "{user}");
    assert!(user.contains("<snippet path=\"src/load.rs\">\nfn load_users(path: &Path)"), "{user}");
    assert!(user.contains("serde_json::from_str(&text).map_err(LoadError::Parse)?;"), "{user}");
}

#[test]
fn prompt_explains_a_bad_location() {
    let out = run(&["prompt", "nowhere.rs"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("FILE:LINE:COL"));
}

#[test]
fn a_location_past_the_end_of_the_file_is_an_error() {
    let dir = workspace();
    let main = dir.path().join("src/main.rs");
    let out = run(&["prompt", &format!("{}:99:1", main.display())], &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 99 is past the end of"), "{out:?}");
    let out = run(&["prompt", &format!("{}:3:40", main.display())], &[]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("column 40 is past the end of line 3 (12 characters"),
        "{out:?}"
    );
    // The column after the last character is the line's end, where completions are asked for.
    assert!(run(&["prompt", &format!("{}:3:13", main.display())], &[]).status.success());
}

#[test]
fn complete_without_a_key_says_so_before_asking() {
    let dir = workspace();
    let location = format!("{}:3:13", dir.path().join("src/main.rs").display());
    let out = run(&["complete", &location], &[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no API key: set MOONSHOT_API_KEY"), "{stderr}");
}

#[test]
fn a_broken_settings_file_is_reported_and_a_closed_pipe_is_no_panic() {
    let dir = workspace();
    let config = dir.path().join("config");
    std::fs::create_dir_all(config.join("kimi-lsp")).unwrap();
    std::fs::write(config.join("kimi-lsp/config.toml"), "[completion]\ntemperature = \"hot\"\n").unwrap();
    let location = format!("{}:3:13", dir.path().join("src/main.rs").display());
    let home = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kimi-lsp-under-test"))
        .args(["prompt", &location])
        .env_clear()
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", &config)
        .env("XDG_DATA_HOME", home.path().join("data"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The reader goes away before the request is printed, as `kimi-lsp prompt … | head -0` does.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains("kimi-lsp prompt: settings:") && stderr.contains("temperature"), "{stderr}");
}

#[tokio::test]
async fn complete_runs_one_completion_against_the_endpoint() {
    let standin = Standin::start().await;
    standin.push(Reply::text("area_of_circle(3.0);"));
    let dir = workspace();
    let location = format!("{}:3:13", dir.path().join("src/main.rs").display());
    let base = standin.base_url();
    let out = tokio::task::spawn_blocking(move || {
        run(&["complete", &location], &[("MOONSHOT_API_KEY", "sk-cli"), ("MOONSHOT_BASE_URL", &base)])
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim_end(), "area_of_circle(3.0);");
    assert_eq!(standin.chat_requests().len(), 1);
}

/// Nobody types on in a terminal to supersede the answer: `complete` retries a transient error
/// as a code action does (`kimi-api.md`: "invalid state transition" once), but not an empty
/// balance.
#[tokio::test]
async fn complete_retries_a_transient_error_and_not_an_empty_balance() {
    let standin = Standin::start().await;
    standin.push(Reply::error(ApiError::UnexpectedOutput));
    standin.push(Reply::text("area_of_circle(3.0);"));
    let dir = workspace();
    let location = format!("{}:3:13", dir.path().join("src/main.rs").display());
    let base = standin.base_url();
    let complete = move || {
        let (location, base) = (location.clone(), base.clone());
        tokio::task::spawn_blocking(move || {
            run(&["complete", &location], &[("MOONSHOT_API_KEY", "sk-cli"), ("MOONSHOT_BASE_URL", &base)])
        })
    };
    let out = complete().await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim_end(), "area_of_circle(3.0);");
    assert_eq!(standin.chat_requests().len(), 2);

    standin.push(Reply::error(ApiError::InsufficientBalance));
    standin.push(Reply::text("must not be fetched"));
    let out = complete().await.unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no quota left"), "{stderr}");
    assert_eq!(standin.chat_requests().len(), 3);
}

#[tokio::test]
async fn complete_says_which_setting_turns_completions_off_and_sends_nothing() {
    let standin = Standin::start().await;
    let dir = workspace();
    std::fs::write(dir.path().join("NOTES.md"), "# Notes\n\nThe area \n").unwrap();
    std::fs::create_dir_all(dir.path().join("src/generated")).unwrap();
    std::fs::write(dir.path().join("src/generated/table.rs"), "fn table() {\n    \n}\n").unwrap();
    let config = dir.path().join("kimi.toml");
    std::fs::write(&config, "[completion]\nlanguages = { markdown = false }\nexclude = [\"src/generated/\"]\n")
        .unwrap();
    let base = standin.base_url();
    let root = dir.path().to_path_buf();
    let (notes, generated, prompt) = tokio::task::spawn_blocking(move || {
        let env = [
            ("MOONSHOT_API_KEY", "sk-cli"),
            ("MOONSHOT_BASE_URL", base.as_str()),
            ("KIMI_LSP_CONFIG", config.to_str().unwrap()),
        ];
        let at = |file: &str, line: u32, col: u32| format!("{}:{line}:{col}", root.join(file).display());
        (
            run(&["complete", &at("NOTES.md", 3, 10)], &env),
            run(&["complete", &at("src/generated/table.rs", 2, 5)], &env),
            run(&["prompt", &at("src/generated/table.rs", 2, 5)], &env),
        )
    })
    .await
    .unwrap();
    assert_eq!(notes.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&notes.stderr).trim_end(),
        "kimi-lsp complete: completions are off for markdown files (`completion.languages`)"
    );
    assert_eq!(generated.status.code(), Some(1));
    let said = String::from_utf8_lossy(&generated.stderr);
    assert!(said.contains("matches `src/generated/` in `completion.exclude`"), "{said}");
    // `prompt` still shows what would be sent, with a note that an editor would send nothing.
    assert!(prompt.status.success());
    assert!(String::from_utf8_lossy(&prompt.stderr).contains("an editor would send nothing here"));
    assert!(serde_json::from_slice::<serde_json::Value>(&prompt.stdout).is_ok());
    assert!(standin.chat_requests().is_empty());
}
