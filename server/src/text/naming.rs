//! What a document's language is called: in prompts ("a code completion engine for Ruby"),
//! in code fences, and for grouping documents of one language. The server parses fourteen
//! languages ([`Language`]); every other one is [`Language::PlainText`] to the parser, but a
//! Scala or Lua file is still code, and a model told it is plain text writes worse code.
//! Its name comes from the editor's language id, else from the file's extension.

use std::borrow::Cow;

use super::Language;

/// A document's language as prompts name it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LanguageName {
    /// The language the server parses it as: [`Language::PlainText`] for all the others.
    pub parsed: Language,
    /// Human name: "Rust", "Ruby", "Shell script"; "plain text" when nothing tells.
    pub name: Cow<'static, str>,
    /// The info string of a Markdown code fence: "rust", "ruby", "csharp"; empty when nothing
    /// tells.
    pub fence: Cow<'static, str>,
    /// Whether the language is one of prose (plain text, Markdown, reStructuredText, …) rather
    /// than code or data.
    pub prose: bool,
}

/// Languages the server does not parse: language ids (lower case) editors send, file
/// extensions (lower case), or whole file names, the name, the fence, and whether it is prose.
struct Known {
    ids: &'static [&'static str],
    extensions: &'static [&'static str],
    name: &'static str,
    fence: &'static str,
    prose: bool,
}

const fn code(
    ids: &'static [&'static str],
    extensions: &'static [&'static str],
    name: &'static str,
    fence: &'static str,
) -> Known {
    Known { ids, extensions, name, fence, prose: false }
}

const fn prose(
    ids: &'static [&'static str],
    extensions: &'static [&'static str],
    name: &'static str,
    fence: &'static str,
) -> Known {
    Known { prose: true, ..code(ids, extensions, name, fence) }
}

/// Ids as VS Code, Neovim (filetypes), Helix and Emacs (modes, without `-mode`) send them.
const KNOWN: &[Known] = &[
    code(&["scala"], &["scala", "sc", "sbt"], "Scala", "scala"),
    code(&["lua"], &["lua"], "Lua", "lua"),
    code(
        &["shellscript", "sh", "bash", "zsh", "shell", "fish"],
        &["sh", "bash", "zsh", "fish", "ksh"],
        "Shell script",
        "sh",
    ),
    code(&["powershell", "ps1"], &["ps1", "psm1", "psd1"], "PowerShell", "powershell"),
    code(&["perl", "pl"], &["pl", "pm"], "Perl", "perl"),
    code(&["r"], &["r"], "R", "r"),
    code(&["julia", "jl"], &["jl"], "Julia", "julia"),
    code(&["dart"], &["dart"], "Dart", "dart"),
    code(&["elixir", "ex"], &["ex", "exs"], "Elixir", "elixir"),
    code(&["erlang", "erl"], &["erl", "hrl"], "Erlang", "erlang"),
    code(&["haskell", "hs"], &["hs"], "Haskell", "haskell"),
    code(&["ocaml", "ml", "tuareg"], &["ml", "mli"], "OCaml", "ocaml"),
    code(&["fsharp", "f#", "fs"], &["fs", "fsi", "fsx"], "F#", "fsharp"),
    code(&["clojure", "clj"], &["clj", "cljs", "cljc", "edn"], "Clojure", "clojure"),
    code(&["elm"], &["elm"], "Elm", "elm"),
    code(&["zig"], &["zig"], "Zig", "zig"),
    code(&["nim"], &["nim"], "Nim", "nim"),
    code(&["groovy"], &["groovy", "gradle"], "Groovy", "groovy"),
    code(&["objective-c", "objc"], &["m"], "Objective-C", "objective-c"),
    code(&["objective-cpp", "objcpp"], &["mm"], "Objective-C++", "objective-cpp"),
    code(&["vb", "vbnet"], &["vb"], "Visual Basic", "vb"),
    code(&["cuda", "cu"], &["cu", "cuh"], "CUDA C++", "cuda"),
    code(&["sql", "mysql", "postgres", "plsql"], &["sql"], "SQL", "sql"),
    code(&["html"], &["html", "htm"], "HTML", "html"),
    code(&["css"], &["css"], "CSS", "css"),
    code(&["scss"], &["scss"], "SCSS", "scss"),
    code(&["less"], &["less"], "Less", "less"),
    code(&["vue"], &["vue"], "Vue", "vue"),
    code(&["svelte"], &["svelte"], "Svelte", "svelte"),
    code(&["json", "jsonc", "json5"], &["json", "jsonc", "json5"], "JSON", "json"),
    code(&["yaml", "yml"], &["yaml", "yml"], "YAML", "yaml"),
    code(&["toml"], &["toml"], "TOML", "toml"),
    code(&["xml"], &["xml", "xsd", "xsl", "svg", "csproj", "plist"], "XML", "xml"),
    code(&["dockerfile"], &["dockerfile", "Dockerfile", "Containerfile"], "Dockerfile", "dockerfile"),
    code(&["makefile", "make"], &["mk", "mak", "Makefile", "makefile", "GNUmakefile"], "Makefile", "makefile"),
    code(&["cmake"], &["cmake", "CMakeLists.txt"], "CMake", "cmake"),
    code(&["terraform", "hcl", "tf"], &["tf", "tfvars", "hcl"], "HCL", "hcl"),
    code(&["nix"], &["nix"], "Nix", "nix"),
    code(&["proto", "proto3", "protobuf"], &["proto"], "Protocol Buffers", "protobuf"),
    code(&["graphql", "gql"], &["graphql", "gql"], "GraphQL", "graphql"),
    code(&["solidity", "sol"], &["sol"], "Solidity", "solidity"),
    code(&["verilog", "systemverilog"], &["v", "sv", "svh"], "Verilog", "verilog"),
    code(&["vhdl"], &["vhd", "vhdl"], "VHDL", "vhdl"),
    code(&["fortran"], &["f90", "f95", "f03"], "Fortran", "fortran"),
    code(&["latex", "tex"], &["tex", "sty"], "LaTeX", "latex"),
    code(&["vim", "viml"], &["vim"], "Vim script", "vim"),
    code(&["emacs-lisp", "elisp"], &["el"], "Emacs Lisp", "elisp"),
    prose(&["plaintext", "text", "txt"], &["txt"], "plain text", ""),
    prose(&["markdown", "md", "gfm"], &["md", "markdown", "mdx"], "Markdown", "markdown"),
    prose(&["restructuredtext", "rst"], &["rst"], "reStructuredText", "rst"),
    prose(&["asciidoc", "adoc"], &["adoc", "asciidoc"], "AsciiDoc", "asciidoc"),
    prose(&["org"], &["org"], "Org", "org"),
    prose(&["log"], &["log"], "log", ""),
    prose(&["git-commit", "gitcommit"], &["COMMIT_EDITMSG"], "Git commit message", ""),
];

impl LanguageName {
    /// The name of a document's language: what the server parses names itself; otherwise
    /// the editor's `language_id` decides, then `path`'s extension or file name (`path` may be
    /// a URI). An unknown id is shown as the editor gave it, lower case.
    pub fn of(language: Language, language_id: &str, path: &str) -> LanguageName {
        if language != Language::PlainText {
            return language.into();
        }
        let id = language_id.trim().to_ascii_lowercase();
        if let Some(known) = KNOWN.iter().find(|k| k.ids.contains(&id.as_str())) {
            return known.into();
        }
        if !id.is_empty() {
            // The editor knows the language and the model likely knows the name.
            return LanguageName {
                parsed: language,
                name: Cow::Owned(id.clone()),
                fence: Cow::Owned(id),
                prose: false,
            };
        }
        let path = path.split(['?', '#']).next().unwrap_or(path);
        let file = path.rsplit(['/', '\\']).next().unwrap_or(path);
        let extension =
            file.rsplit_once('.').filter(|(stem, _)| !stem.is_empty()).map(|(_, ext)| ext.to_ascii_lowercase());
        let by_file =
            KNOWN.iter().find(|k| k.extensions.iter().any(|e| *e == file || extension.as_deref() == Some(*e)));
        match by_file {
            Some(known) => known.into(),
            None => Language::PlainText.into(),
        }
    }
}

impl From<&Known> for LanguageName {
    fn from(known: &Known) -> LanguageName {
        LanguageName {
            parsed: Language::PlainText,
            name: Cow::Borrowed(known.name),
            fence: Cow::Borrowed(known.fence),
            prose: known.prose,
        }
    }
}

/// A parsed language's own name; plain text's is prose.
impl From<Language> for LanguageName {
    fn from(language: Language) -> LanguageName {
        LanguageName {
            parsed: language,
            name: Cow::Borrowed(language.name()),
            fence: Cow::Borrowed(language.fence()),
            prose: language == Language::PlainText,
        }
    }
}

impl Default for LanguageName {
    fn default() -> LanguageName {
        Language::PlainText.into()
    }
}

/// How a sentence names a file of the language called `name` ([`LanguageName::name`]): "a Rust
/// file", "an HTML file", "a shell script", "a Makefile". Prompts read as English; "a Shell
/// script file" and "a HTML file" read as a machine's.
pub fn a_file_of(name: &str) -> String {
    // What names itself as a file, in lower case after the article but for a proper name.
    if let Some(kind) = name.strip_suffix(" script") {
        let kind = if kind == "Shell" { "shell" } else { kind };
        return format!("a {kind} script");
    }
    if matches!(name, "Makefile" | "Dockerfile") || name.ends_with(" message") {
        return format!("a {name}");
    }
    format!("{} {name} file", article(name))
}

/// "an" before a vowel sound: a vowel letter (`OCaml`, `Elixir`), or an initialism whose first
/// letter is spoken with one (`HTML`, `SQL`, `F#`, `R`); "a" before `CSS`, `JSON`, `Lua`.
fn article(name: &str) -> &'static str {
    let mut chars = name.chars();
    let first = chars.next().unwrap_or('x');
    let second = chars.next();
    let initialism = first.is_ascii_uppercase() && second.is_none_or(|c| !c.is_ascii_lowercase());
    let vowel = matches!(first.to_ascii_lowercase(), 'a' | 'e' | 'i' | 'o')
        || initialism && matches!(first, 'F' | 'H' | 'L' | 'M' | 'N' | 'R' | 'S' | 'X');
    if vowel {
        "an"
    } else {
        "a"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every language's phrase, as the completion prompt's first sentence reads it.
    #[test]
    fn each_language_is_a_file_with_its_article() {
        let names = Language::ALL.iter().map(|l| l.name()).chain(KNOWN.iter().map(|k| k.name));
        let phrases: Vec<String> = names.map(a_file_of).collect();
        expect_test::expect![[r#"
            a Rust file
            a Python file
            a TypeScript file
            a TypeScript (TSX) file
            a JavaScript file
            a Go file
            a Java file
            a C# file
            a C file
            a C++ file
            a Ruby file
            a PHP file
            a Kotlin file
            a Swift file
            a plain text file
            a Scala file
            a Lua file
            a shell script
            a PowerShell file
            a Perl file
            an R file
            a Julia file
            a Dart file
            an Elixir file
            an Erlang file
            a Haskell file
            an OCaml file
            an F# file
            a Clojure file
            an Elm file
            a Zig file
            a Nim file
            a Groovy file
            an Objective-C file
            an Objective-C++ file
            a Visual Basic file
            a CUDA C++ file
            an SQL file
            an HTML file
            a CSS file
            an SCSS file
            a Less file
            a Vue file
            a Svelte file
            a JSON file
            a YAML file
            a TOML file
            an XML file
            a Dockerfile
            a Makefile
            a CMake file
            an HCL file
            a Nix file
            a Protocol Buffers file
            a GraphQL file
            a Solidity file
            a Verilog file
            a VHDL file
            a Fortran file
            a LaTeX file
            a Vim script
            an Emacs Lisp file
            a plain text file
            a Markdown file
            a reStructuredText file
            an AsciiDoc file
            an Org file
            a log file
            a Git commit message
        "#]]
        .assert_eq(&(phrases.join("\n") + "\n"));
    }

    fn named(language_id: &str, path: &str) -> (String, String, bool) {
        let n = LanguageName::of(Language::detect(language_id, path), language_id, path);
        (n.name.into_owned(), n.fence.into_owned(), n.prose)
    }

    #[test]
    fn parsed_languages_name_themselves_and_their_fences_are_info_strings() {
        assert_eq!(named("rust", "file:///p/a.rs"), ("Rust".into(), "rust".into(), false));
        assert_eq!(named("", "file:///p/A.cs"), ("C#".into(), "csharp".into(), false));
        assert_eq!(named("typescriptreact", "file:///p/a.tsx"), ("TypeScript (TSX)".into(), "tsx".into(), false));
        assert_eq!(named("cpp", "file:///p/a.cc"), ("C++".into(), "cpp".into(), false));
        assert_eq!(named("ruby", "file:///p/user.rb"), ("Ruby".into(), "ruby".into(), false));
        assert_eq!(named("", "file:///p/Gemfile"), ("Ruby".into(), "ruby".into(), false));
        assert_eq!(named("", "file:///p/index.php"), ("PHP".into(), "php".into(), false));
        assert_eq!(named("kotlin", "file:///p/Main.kt"), ("Kotlin".into(), "kotlin".into(), false));
        assert_eq!(named("", "file:///p/build.gradle.kts"), ("Kotlin".into(), "kotlin".into(), false));
        assert_eq!(named("swift", "file:///p/App.swift"), ("Swift".into(), "swift".into(), false));
        assert_eq!(named("", "file:///p/Sources/App/main.swift"), ("Swift".into(), "swift".into(), false));
    }

    #[test]
    fn other_languages_are_named_by_the_editors_id_then_the_file_name() {
        assert_eq!(named("scala", "file:///p/App.scala"), ("Scala".into(), "scala".into(), false));
        // Helix and Neovim send short ids; eglot may send none.
        assert_eq!(named("sh", "file:///p/run"), ("Shell script".into(), "sh".into(), false));
        assert_eq!(named("", "file:///p/app/Main.scala"), ("Scala".into(), "scala".into(), false));
        assert_eq!(named("", "/p/Dockerfile"), ("Dockerfile".into(), "dockerfile".into(), false));
        assert_eq!(named("", "file:///p/deploy.YML"), ("YAML".into(), "yaml".into(), false));
        // An id the server does not know is kept as the editor gave it.
        assert_eq!(named("Crystal", "file:///p/a.cr"), ("crystal".into(), "crystal".into(), false));
    }

    #[test]
    fn prose_and_unknown_files_are_prose() {
        assert_eq!(named("plaintext", "file:///p/notes.txt"), ("plain text".into(), "".into(), true));
        assert_eq!(named("markdown", "file:///p/README.md"), ("Markdown".into(), "markdown".into(), true));
        assert_eq!(named("", "file:///p/CHANGES.rst"), ("reStructuredText".into(), "rst".into(), true));
        assert_eq!(named("", "file:///p/data.unknown"), ("plain text".into(), "".into(), true));
        assert_eq!(named("", "file:///p/.rb"), ("plain text".into(), "".into(), true), "a hidden file named rb");
    }
}
