//! The Moonshot API stand-in as a process, for tests that drive real editors.
//!
//! `moonshot-standin [--port N] [--script FILE.json] [--key KEY] [--log FILE]`
//!
//! Prints exactly one line, `BASE_URL=http://127.0.0.1:PORT/v1`, once it accepts connections, then
//! serves until it is killed or its stdin closes (so a harness that dies takes it along). The
//! script's replies (see `kimi_test_support::script`) answer chat requests in order; after them,
//! and without a script, every chat request is answered with its last user message.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use kimi_test_support::{parse_script, Reply, Standin};

const USAGE: &str = "usage: moonshot-standin [--port N] [--script FILE.json] [--key KEY] [--log FILE]";

#[derive(Debug, Default, PartialEq)]
struct Args {
    port: u16,
    script: Option<PathBuf>,
    key: Option<String>,
    log: Option<PathBuf>,
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Args, String> {
    let mut out = Args::default();
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value\n{USAGE}"));
        match flag.as_str() {
            "--port" => {
                let v = value("--port")?;
                out.port = v.parse().map_err(|_| format!("--port {v:?} is not a port number\n{USAGE}"))?;
            }
            "--script" => out.script = Some(PathBuf::from(value("--script")?)),
            "--key" => out.key = Some(value("--key")?),
            "--log" => out.log = Some(PathBuf::from(value("--log")?)),
            "--help" | "-h" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(out)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let replies = match &args.script {
        None => Vec::new(),
        Some(path) => {
            let text = match std::fs::read_to_string(path) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("cannot read the script {}: {e}", path.display());
                    return ExitCode::from(2);
                }
            };
            match parse_script(&text) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("{}: {e}", path.display());
                    return ExitCode::from(2);
                }
            }
        }
    };
    let standin = match Standin::start_on(args.port).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cannot listen on 127.0.0.1:{}: {e}", args.port);
            return ExitCode::from(1);
        }
    };
    if let Some(log) = &args.log {
        if let Err(e) = standin.log_requests_to(log) {
            eprintln!("cannot write the request log {}: {e}", log.display());
            return ExitCode::from(2);
        }
    }
    if let Some(key) = &args.key {
        standin.require_key(key);
    }
    standin.set_default(Reply::echo_last_user());
    for reply in replies {
        standin.push(reply);
    }

    let mut stdout = std::io::stdout();
    if writeln!(stdout, "BASE_URL={}", standin.base_url()).and_then(|_| stdout.flush()).is_err() {
        return ExitCode::from(1);
    }

    // Reading stdin blocks, so it gets a thread; its end is the signal to stop.
    let (closed_tx, closed_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let mut sink = [0u8; 1024];
        let mut stdin = std::io::stdin();
        while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
        let _ = closed_tx.send(());
    });
    let _ = closed_rx.await;
    standin.stop();
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, String> {
        parse_args(args.iter().map(|a| a.to_string()))
    }

    #[test]
    fn flags_parse_and_mistakes_say_what_is_wrong() {
        assert_eq!(
            parse(&["--port", "8080", "--key", "sk-x", "--script", "s.json", "--log", "l.jsonl"]),
            Ok(Args {
                port: 8080,
                script: Some(PathBuf::from("s.json")),
                key: Some("sk-x".to_string()),
                log: Some(PathBuf::from("l.jsonl")),
            })
        );
        assert_eq!(parse(&[]), Ok(Args::default()));
        assert!(parse(&["--port", "99999"]).unwrap_err().starts_with("--port \"99999\" is not a port number"));
        assert!(parse(&["--key"]).unwrap_err().starts_with("--key needs a value"));
        assert!(parse(&["--verbose"]).unwrap_err().starts_with("unknown argument \"--verbose\""));
    }
}
