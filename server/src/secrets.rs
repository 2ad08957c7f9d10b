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

/// `.env.*` variants that document the variables instead of holding them.
const ENV_TEMPLATES: &[&str] = &["example", "sample", "template"];

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
    if let Some((_, ext)) = name.rsplit_once('.') {
        if SECRET_EXTENSIONS.contains(&ext) {
            return true;
        }
    }
    if SSH_KEY_PREFIXES.iter().any(|p| name.starts_with(p)) {
        return !name.ends_with(".pub");
    }
    if name.starts_with("credentials") && name.ends_with(".json") {
        return true;
    }
    name.starts_with("secrets.")
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
