//! Which files may hold credentials. Such files are never indexed and never sent to a model, and
//! the completion feature refuses to complete inside one: a suggestion would ship the file's
//! neighbourhood, i.e. the secret, to the provider.

use std::path::Path;

/// Directories whose every file is treated as secret.
const SECRET_DIRS: &[&str] = &[".ssh", ".aws", ".gnupg"];

/// File names (compared case-insensitively) that are secret wherever they live.
const SECRET_NAMES: &[&str] = &[
    ".npmrc",
    ".pypirc",
    ".netrc",
    // Windows spelling of .netrc, read by curl and git.
    "_netrc",
    // git's credential store keeps tokens in plain text.
    ".git-credentials",
    // direnv files export variables and are where people put tokens next to code.
    ".envrc",
];

/// Extensions (lower-case, without the dot) of key and certificate stores.
const SECRET_EXTENSIONS: &[&str] = &["pem", "key", "p12", "pfx", "keystore", "jks"];

/// `.env.*` variants (and `*.env` stems) that document the variables instead of holding them.
const ENV_TEMPLATES: &[&str] = &["example", "sample", "template"];

/// Extensions of configuration data: `credentials.yml` and `secret.yaml` hold secrets, while
/// `credentials.rs` is code that handles them. (`secrets.*` is secret whatever its extension: a
/// `secrets.py` or `secrets.ts` is where projects keep their keys as code.) `enc` is Rails'
/// encrypted `credentials.yml.enc`.
const DATA_EXTENSIONS: &[&str] =
    &["json", "yml", "yaml", "toml", "ini", "xml", "conf", "cfg", "properties", "txt", "env", "enc"];

/// SSH private key file stems; the matching `.pub` files are public.
const SSH_KEY_PREFIXES: &[&str] = &["id_rsa", "id_dsa", "id_ecdsa", "id_ed25519"];

/// True when `path` names a file that probably holds secrets (see the module doc). `path` may be
/// absolute or relative and may use either slash: URIs and Windows paths reach the server too, so
/// both separators split components whatever the host.
pub fn looks_secret(path: &Path) -> bool {
    let text = path.to_string_lossy();
    let mut parts = text.split(['/', '\\']).filter(|p| !p.is_empty());
    let Some(name) = parts.next_back() else {
        return false;
    };
    if parts.any(|dir| SECRET_DIRS.iter().any(|d| dir.eq_ignore_ascii_case(d))) {
        return true;
    }
    let name = name.to_ascii_lowercase();
    if SECRET_NAMES.contains(&name.as_str()) {
        return true;
    }
    if name == ".env" {
        return true;
    }
    if let Some(variant) = name.strip_prefix(".env.") {
        return !ENV_TEMPLATES.contains(&variant);
    }
    let (stem, ext) = name.rsplit_once('.').unwrap_or((name.as_str(), ""));
    if SECRET_EXTENSIONS.contains(&ext) {
        return true;
    }
    // `prod.env`, `local.env`: what `.env.prod` is in another spelling.
    if ext == "env" && !stem.is_empty() {
        return !ENV_TEMPLATES.iter().any(|t| stem.ends_with(t));
    }
    if SSH_KEY_PREFIXES.iter().any(|p| name.starts_with(p)) {
        return !name.ends_with(".pub");
    }
    let data = ext.is_empty() || DATA_EXTENSIONS.contains(&ext);
    name.starts_with("secrets.") || (name.starts_with("credentials") || name.starts_with("secret.")) && data
}

/// [`looks_secret`] for the document a URI names, whatever its scheme: an editor's new, unsaved
/// `untitled:/home/u/app/.env` is as secret as the file it will be saved as, and so is a
/// `.env` a remote or virtual workspace (`vscode-remote:`, `vscode-vfs:`) holds.
pub fn uri_looks_secret(uri: &str) -> bool {
    let path = match url::Url::parse(uri) {
        Ok(url) if url.scheme() == "file" => match url.to_file_path() {
            Ok(path) => return looks_secret(&path),
            Err(()) => url.path().to_string(),
        },
        Ok(url) => url.path().to_string(),
        Err(_) => uri.to_string(),
    };
    looks_secret(Path::new(&*percent_encoding::percent_decode_str(&path).decode_utf8_lossy()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(path: &str) -> bool {
        looks_secret(Path::new(path))
    }

    #[test]
    fn environment_files_are_secret_but_their_templates_are_not() {
        for path in [".env", "app/.env", ".env.local", ".env.production", "/srv/app/.ENV", ".envrc"] {
            assert!(secret(path), "{path}");
        }
        for path in [".env.example", ".env.sample", ".env.template", "env.rs", "src/environment.ts", ".environment"] {
            assert!(!secret(path), "{path}");
        }
    }

    #[test]
    fn keys_certificates_and_keystores_are_secret() {
        for path in [
            "server.pem",
            "tls/private.key",
            "client.P12",
            "cert.pfx",
            "release.keystore",
            "android/app/debug.jks",
            "id_rsa",
            "backup/id_ed25519",
            "id_ecdsa_work",
            "id_dsa",
        ] {
            assert!(secret(path), "{path}");
        }
        for path in ["id_rsa.pub", "keys/id_ed25519.pub", "keyboard.rs", "monkey.py"] {
            assert!(!secret(path), "{path}");
        }
    }

    #[test]
    fn credential_files_of_package_managers_and_clouds_are_secret() {
        for path in [
            ".npmrc",
            "/home/u/.pypirc",
            ".netrc",
            "_netrc",
            ".git-credentials",
            "credentials.json",
            "config/credentials-prod.json",
            "secrets.yaml",
            "deploy/secrets.toml",
        ] {
            assert!(secret(path), "{path}");
        }
        for path in ["credentials.rs", "src/secrets_test.go", "secret.rs", "npmrc.md", "credentials.json.md"] {
            assert!(!secret(path), "{path}");
        }
    }

    #[test]
    fn environment_and_credential_files_in_other_spellings_are_secret() {
        for path in [
            "prod.env",
            "config/local.env",
            "credentials.yml",
            "config/credentials.yml.enc",
            "credentials",
            "deploy/credentials.ini",
            "secrets.json",
            "k8s/secret.yaml",
        ] {
            assert!(secret(path), "{path}");
        }
        for path in ["example.env", "app.env.sample.md", "env.rs", "credentials_test.py"] {
            assert!(!secret(path), "{path}");
        }
    }

    #[test]
    fn a_secret_file_is_one_whatever_the_scheme_of_its_uri() {
        for uri in [
            "file:///home/u/app/.env",
            "file:///home/u/app/%2Eenv.local",
            "untitled:/home/u/app/.env",
            "untitled:/home/u/app/deploy.pem",
            "vscode-remote://ssh-remote%2Bbox/srv/app/.env",
            "vscode-vfs://github/u/app/config/%2Eenv",
            "/home/u/app/.env",
        ] {
            assert!(uri_looks_secret(uri), "{uri}");
        }
        for uri in ["untitled:Untitled-1", "file:///home/u/app/main.rs", "vscode-notebook-cell:/a/b.ipynb#W0"] {
            assert!(!uri_looks_secret(uri), "{uri}");
        }
    }

    #[test]
    fn everything_under_credential_directories_is_secret() {
        for path in [
            "/home/u/.ssh/config",
            "/home/u/.ssh/known_hosts",
            "/home/u/.aws/credentials",
            "/home/u/.aws/config",
            "/home/u/.gnupg/pubring.kbx",
            "C:\\Users\\u\\.ssh\\config",
            "file:///home/u/.aws/config",
        ] {
            assert!(secret(path), "{path}");
        }
        for path in ["/home/u/ssh/config", "/src/aws/client.ts", "/home/u/.sshd"] {
            assert!(!secret(path), "{path}");
        }
    }

    #[test]
    fn ordinary_source_files_and_odd_input_are_not_secret() {
        for path in ["src/main.rs", "lib/parser.py", "App.tsx", "go.mod", "", "/", "."] {
            assert!(!secret(path), "{path}");
        }
    }
}
