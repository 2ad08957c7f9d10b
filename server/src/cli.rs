//! The terminal face: argument parsing, logging set-up, and printing for the subcommands.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::ConfigLayers;
use crate::doctor;

#[derive(Parser, Debug)]
#[command(
    name = "kimi-lsp",
    version,
    about = "A language server that brings Moonshot AI's Kimi models into your editor",
    long_about = "A language server that brings Moonshot AI's Kimi models into your editor.\n\n\
        With no subcommand it serves the Language Server Protocol on stdin/stdout; editors start it \
        that way. Set MOONSHOT_API_KEY first, then run `kimi-lsp doctor` to check the setup."
)]
struct Cli {
    /// Serve LSP over stdin/stdout (the default; accepted for editors that always pass it).
    #[arg(long, global = false)]
    stdio: bool,
    /// Append logs to this file instead of stderr.
    #[arg(long, global = true, env = "KIMI_LSP_LOG_FILE", value_name = "PATH")]
    log_file: Option<PathBuf>,
    /// Log filter: error, warn, info, debug, trace, or a tracing directive like `kimi_lsp=debug`.
    #[arg(long, global = true, env = "KIMI_LSP_LOG", value_name = "FILTER")]
    log: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the exact request a completion at FILE:LINE:COL would send (offline, no key needed).
    Prompt {
        /// `path/to/file.rs:LINE:COL`, 1-based, the column counted in characters.
        location: String,
    },
    /// Run one completion at FILE:LINE:COL and print the suggestion.
    Complete {
        /// `path/to/file.rs:LINE:COL`, 1-based, the column counted in characters.
        location: String,
    },
    /// Check the setup: API key, endpoint, models, balance. Exits non-zero when something is wrong.
    Doctor {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show tokens and cost today, this week and all time, by feature and model, with budgets.
    Usage {
        /// Print the report as JSON (the same shape as the `kimi/usage` LSP request).
        #[arg(long)]
        json: bool,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_level = if cli.command.is_some() { "warn" } else { "info" };
    if let Err(e) = init_logging(cli.log_file.as_deref(), cli.log.as_deref().unwrap_or(default_level)) {
        eprintln!("kimi-lsp: {e}");
        return ExitCode::from(2);
    }
    install_panic_hook();
    // One thread: tower-lsp-server runs the message loop and the handlers inside the future
    // given to `block_on` anyway, so worker threads only ran spawned tasks (the HTTP connection,
    // streams), and each hand-off to one cost a wake-up of an idle CPU. CPU work (parses, the
    // index, SQLite) goes to the blocking pool, which this runtime has too.
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kimi-lsp: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let env = |name: &str| std::env::var(name).ok();
    let (layers, problems) = ConfigLayers::load(&env);
    match cli.command {
        None => {
            let clean = runtime.block_on(crate::lsp::serve_stdio(layers, problems));
            // The spec: exit code 0 after `shutdown` then `exit`, 1 after an `exit` alone.
            // Don't wait for stdin readers stuck in blocking reads.
            runtime.shutdown_background();
            if clean {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Some(Command::Prompt { location }) => {
            for problem in &problems {
                eprintln!("kimi-lsp prompt: settings: {problem}");
            }
            match crate::features::offline::prompt(&layers, &location) {
                Ok(json) => print_line("prompt", &json),
                Err(e) => {
                    eprintln!("kimi-lsp prompt: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Some(Command::Complete { location }) => {
            for problem in &problems {
                eprintln!("kimi-lsp complete: settings: {problem}");
            }
            match runtime.block_on(crate::features::offline::complete(&layers, &location)) {
                Ok(text) => print_line("complete", &text),
                Err(e) => {
                    eprintln!("kimi-lsp complete: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Some(Command::Doctor { json }) => {
            let report = runtime.block_on(doctor::run(&layers, &problems));
            let printed = print_report(json, &report, || report.render(std::io::stdout().is_terminal()));
            if let Err(e) = printed {
                eprintln!("kimi-lsp: {e}");
            }
            if report.healthy() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Some(Command::Usage { json }) => {
            for problem in &problems {
                eprintln!("kimi-lsp usage: settings: {problem}");
            }
            match usage_report(&layers) {
                Ok(report) => match print_report(json, &report, || crate::features::usage::render(&report)) {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => {
                        eprintln!("kimi-lsp usage: {e}");
                        ExitCode::from(1)
                    }
                },
                Err(e) => {
                    eprintln!("kimi-lsp usage: {e}");
                    ExitCode::from(1)
                }
            }
        }
    }
}

/// A report as pretty JSON (`--json`) or as the text `render` makes.
/// Prints a command's result. A reader that went away (`kimi-lsp prompt … | head`) is no
/// error worth a word, where `println!` would panic.
fn print_line(command: &str, text: &str) -> ExitCode {
    match writeln!(std::io::stdout().lock(), "{text}") {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kimi-lsp {command}: cannot print the result: {e}");
            ExitCode::from(1)
        }
    }
}

fn print_report<T: serde::Serialize>(json: bool, report: &T, render: impl FnOnce() -> String) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, report)?;
        writeln!(out)
    } else {
        write!(out, "{}", render())
    }
}

/// Reads the ledger at its default place. A ledger that does not exist yet reads as empty and is
/// not created: looking must not leave files behind.
fn usage_report(layers: &ConfigLayers) -> Result<crate::features::usage::UsageReport, String> {
    use crate::ledger::Ledger;
    let (config, _) = layers.resolve();
    let path = Ledger::default_path().ok_or("no data directory for the usage ledger (set KIMI_LSP_DATA_DIR)")?;
    let ledger = if path.exists() {
        Ledger::open(&path).map_err(|e| e.to_string())?
    } else {
        eprintln!("kimi-lsp usage: nothing recorded yet ({} does not exist)", path.display());
        Ledger::open_in_memory().map_err(|e| e.to_string())?
    };
    crate::features::usage::collect(&ledger, &config.budget).map_err(|e| e.to_string())
}

fn init_logging(file: Option<&std::path::Path>, filter: &str) -> Result<(), String> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_new(filter).map_err(|e| format!("bad log filter `{filter}`: {e}"))?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    match file {
        Some(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            }
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("cannot open log file {}: {e}", path.display()))?;
            builder.with_ansi(false).with_writer(std::sync::Mutex::new(file)).finish().with(no_raw_messages()).init();
        }
        // stdout is the protocol channel: logs never go there.
        None => builder
            .with_ansi(std::io::stderr().is_terminal())
            .with_writer(std::io::stderr)
            .finish()
            .with(no_raw_messages())
            .init(),
    }
    Ok(())
}

/// Drops tower-lsp-server's trace events, whatever the filter asks for. At TRACE it logs every
/// message it reads or writes whole (`<- {…}`, `-> {…}`), and the editor's messages carry the API
/// key: `initializationOptions`, `workspace/didChangeConfiguration`, the answers to
/// `workspace/configuration`. A filter cannot be trusted to leave them out (`trace`, or
/// `tower_lsp_server::codec=trace`, turns them on), so this filter sits beside it, outside the
/// user's reach. The library's debug and info events (shutdown, cancellation) stay; our own
/// handlers log what a message means, never its raw text.
fn no_raw_messages() -> tracing_subscriber::filter::FilterFn<impl Fn(&tracing::Metadata<'_>) -> bool> {
    tracing_subscriber::filter::filter_fn(|meta| {
        !(*meta.level() == tracing::Level::TRACE && meta.target().starts_with("tower_lsp_server"))
    })
}

/// A panic is a bug; make sure it reaches the log with its location before the default hook runs.
fn install_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        tracing::error!("panic: {info}");
        default(info);
    }));
}
