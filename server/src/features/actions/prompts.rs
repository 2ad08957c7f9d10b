//! The exact messages each action sends. Pure: text in, messages out, snapshot-tested.

use crate::providers::Message;
use crate::text::{Language, LanguageName};

/// What every action prompt is built from; the caller cuts the code out of the document.
#[derive(Clone, Debug, Default)]
pub struct PromptInput<'a> {
    pub language: LanguageName,
    pub path: &'a str,
    /// The code the action is about (region, selection, function or item).
    pub code: &'a str,
    /// Imports and definitions from other files, already formatted; may be empty.
    pub context: &'a str,
}

fn lang<'i>(input: &'i PromptInput<'_>) -> &'i str {
    &input.language.name
}

fn fence<'i>(input: &'i PromptInput<'_>) -> &'i str {
    &input.language.fence
}

fn system(input: &PromptInput<'_>, answer: &str) -> Message {
    Message::system(format!(
        "You are Kimi, a senior {} engineer working inside the user's code editor. {answer}",
        lang(input)
    ))
}

const CODE_ONLY: &str = "Answer with the code in exactly one fenced code block and nothing else: no explanation, \
no line numbers, no placeholder comments such as \"rest unchanged\".";

fn block(input: &PromptInput<'_>, title: &str, code: &str) -> String {
    format!("{title} (from `{}`):\n```{}\n{}```\n", input.path, fence(input), with_newline(code))
}

fn with_context(input: &PromptInput<'_>, mut text: String) -> String {
    if !input.context.trim().is_empty() {
        text.push_str(&format!(
            "\nContext from the file and the workspace:\n```{}\n{}```\n",
            fence(input),
            with_newline(input.context)
        ));
    }
    text
}

fn with_newline(s: &str) -> String {
    if s.is_empty() || s.ends_with('\n') {
        s.to_string()
    } else {
        format!("{s}\n")
    }
}

pub fn fix(input: &PromptInput<'_>, diagnostics: &str) -> Vec<Message> {
    let mut user = block(input, "Code", input.code);
    user.push_str(&format!("\nDiagnostics reported for this code:\n{diagnostics}\n"));
    user = with_context(input, user);
    user.push_str("\nFix the diagnostics. Return the whole code above with the fix applied, changing nothing else and keeping its indentation.");
    vec![system(input, CODE_ONLY), Message::user(user)]
}

pub fn explain(input: &PromptInput<'_>) -> Vec<Message> {
    let mut user = with_context(input, block(input, "Code", input.code));
    user.push_str(
        "\nExplain what this code does and why, for a developer who is about to change it: its purpose, \
how it works step by step, its inputs and outputs, and anything surprising (edge cases, errors, performance).",
    );
    vec![system(input, "Answer in concise Markdown; quote code in fenced blocks."), Message::user(user)]
}

pub fn document(input: &PromptInput<'_>, name: &str) -> Vec<Message> {
    let convention = match input.language.parsed {
        Language::Rust => "Rust doc comment: `///` lines (a summary line, then details, `# Errors`/`# Panics` sections where they apply)",
        Language::Python => "Python docstring (PEP 257, triple double quotes, with Args/Returns/Raises sections where they apply)",
        Language::TypeScript | Language::Tsx | Language::JavaScript => "JSDoc block comment (`/** … */` with @param and @returns tags where they apply)",
        Language::Go => "Go doc comment: `//` lines starting with the name being documented",
        Language::Java => "Javadoc comment (`/** … */`: a summary sentence, then @param, @return and @throws tags where they apply)",
        Language::CSharp => "C# XML documentation comment: `///` lines with <summary>, and <param>, <returns> and <exception> elements where they apply",
        Language::C | Language::Cpp => "Doxygen block comment (`/** … */` with a brief summary line, then @param and @return tags where they apply)",
        Language::Ruby => "YARD comment: `#` lines with a summary, then @param, @return and @raise tags where they apply",
        Language::Php => "PHPDoc block comment (`/** … */` with a summary line, then @param, @return and @throws tags where they apply)",
        Language::Kotlin => "KDoc block comment (`/** … */` with a summary line, then @param, @return and @throws tags where they apply)",
        Language::Swift => "Swift documentation comment: `///` lines with a summary, then `- Parameter`, `- Returns:` and `- Throws:` fields where they apply",
        Language::PlainText => "comment in the file's style",
    };
    let mut user = with_context(input, block(input, "Code", input.code));
    user.push_str(&format!(
        "\nWrite the documentation for `{name}` as a {convention}. Say what it does and what callers must know, \
not how it is implemented. Return only the doc comment itself, without the code it documents."
    ));
    vec![system(input, CODE_ONLY), Message::user(user)]
}

/// `existing`: the start of the file the tests go into, when it exists.
pub fn tests(input: &PromptInput<'_>, name: &str, place: &str, existing: Option<&str>) -> Vec<Message> {
    let mut user = with_context(input, block(input, "Code under test", input.code));
    if let Some(existing) = existing {
        user.push_str(&format!(
            "\nThe test file already starts like this:\n```{}\n{}```\n",
            fence(input),
            with_newline(existing)
        ));
    }
    user.push_str(&format!(
        "\nWrite focused unit tests for `{name}`: the normal case, edge cases and error cases. {place}"
    ));
    vec![system(input, CODE_ONLY), Message::user(user)]
}

pub fn refactor(input: &PromptInput<'_>, instruction: &str) -> Vec<Message> {
    let mut user = with_context(input, block(input, "Code", input.code));
    user.push_str(&format!(
        "\nRewrite this code: {instruction}\nReturn the whole rewritten code, keeping its indentation and \
everything the instruction does not ask to change."
    ));
    vec![system(input, CODE_ONLY), Message::user(user)]
}

/// A custom action: the user's rendered template is the whole request.
pub fn custom(input: &PromptInput<'_>, rendered: &str, wants_code: bool) -> Vec<Message> {
    let answer = if wants_code { CODE_ONLY } else { "Answer in concise Markdown." };
    vec![system(input, answer), Message::user(rendered.to_string())]
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::expect;

    fn show(messages: &[Message]) -> String {
        messages
            .iter()
            .map(|m| {
                let text = match &m.content {
                    crate::providers::Content::Text(t) => t.clone(),
                    _ => String::new(),
                };
                format!("[{}]\n{}", m.role.as_str(), text)
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn input<'a>(code: &'a str, context: &'a str) -> PromptInput<'a> {
        PromptInput { language: Language::Rust.into(), path: "src/lib.rs", code, context }
    }

    #[test]
    fn fix_prompt() {
        let m =
            fix(&input("fn f() -> u32 {\n    \"1\"\n}\n", "use std::fmt;"), "- line 2: mismatched types (rustc E0308)");
        expect![[r#"
            [system]
            You are Kimi, a senior Rust engineer working inside the user's code editor. Answer with the code in exactly one fenced code block and nothing else: no explanation, no line numbers, no placeholder comments such as "rest unchanged".
            [user]
            Code (from `src/lib.rs`):
            ```rust
            fn f() -> u32 {
                "1"
            }
            ```

            Diagnostics reported for this code:
            - line 2: mismatched types (rustc E0308)

            Context from the file and the workspace:
            ```rust
            use std::fmt;
            ```

            Fix the diagnostics. Return the whole code above with the fix applied, changing nothing else and keeping its indentation."#]]
        .assert_eq(&show(&m));
    }

    #[test]
    fn explain_prompt() {
        expect![[r#"
            [system]
            You are Kimi, a senior Rust engineer working inside the user's code editor. Answer in concise Markdown; quote code in fenced blocks.
            [user]
            Code (from `src/lib.rs`):
            ```rust
            fn f() {}
            ```

            Explain what this code does and why, for a developer who is about to change it: its purpose, how it works step by step, its inputs and outputs, and anything surprising (edge cases, errors, performance)."#]]
        .assert_eq(&show(&explain(&input("fn f() {}", ""))));
    }

    #[test]
    fn a_language_without_a_grammar_is_still_named_and_fenced() {
        let rb = PromptInput {
            language: LanguageName::of(Language::PlainText, "ruby", "file:///p/app/user.rb"),
            path: "app/user.rb",
            code: "def full_name\n  \"#{first} #{last}\"\nend\n",
            context: "",
        };
        expect![[r##"
            [system]
            You are Kimi, a senior ruby engineer working inside the user's code editor. Answer in concise Markdown; quote code in fenced blocks.
            [user]
            Code (from `app/user.rb`):
            ```ruby
            def full_name
              "#{first} #{last}"
            end
            ```

            Explain what this code does and why, for a developer who is about to change it: its purpose, how it works step by step, its inputs and outputs, and anything surprising (edge cases, errors, performance)."##]]
        .assert_eq(&show(&explain(&rb)));
    }

    #[test]
    fn document_prompt_names_the_convention() {
        let py =
            PromptInput { language: Language::Python.into(), path: "a.py", code: "def f():\n    pass\n", context: "" };
        expect![[r#"
            [system]
            You are Kimi, a senior Python engineer working inside the user's code editor. Answer with the code in exactly one fenced code block and nothing else: no explanation, no line numbers, no placeholder comments such as "rest unchanged".
            [user]
            Code (from `a.py`):
            ```python
            def f():
                pass
            ```

            Write the documentation for `f` as a Python docstring (PEP 257, triple double quotes, with Args/Returns/Raises sections where they apply). Say what it does and what callers must know, not how it is implemented. Return only the doc comment itself, without the code it documents."#]]
        .assert_eq(&show(&document(&py, "f")));
    }

    #[test]
    fn java_and_csharp_documents_follow_their_doc_comment_conventions() {
        let java = PromptInput {
            language: Language::Java.into(),
            path: "A.java",
            code: "int f(int x) { return x; }\n",
            context: "",
        };
        let csharp =
            PromptInput { language: Language::CSharp.into(), path: "A.cs", code: "int F(int x) => x;\n", context: "" };
        let user = |m: &[Message]| match &m[1].content {
            crate::providers::Content::Text(t) => t.clone(),
            _ => String::new(),
        };
        expect![[r#"
            Code (from `A.java`):
            ```java
            int f(int x) { return x; }
            ```

            Write the documentation for `f` as a Javadoc comment (`/** … */`: a summary sentence, then @param, @return and @throws tags where they apply). Say what it does and what callers must know, not how it is implemented. Return only the doc comment itself, without the code it documents."#]].assert_eq(&user(&document(&java, "f")));
        expect![[r#"
            Code (from `A.cs`):
            ```csharp
            int F(int x) => x;
            ```

            Write the documentation for `F` as a C# XML documentation comment: `///` lines with <summary>, and <param>, <returns> and <exception> elements where they apply. Say what it does and what callers must know, not how it is implemented. Return only the doc comment itself, without the code it documents."#]].assert_eq(&user(&document(&csharp, "F")));
    }

    #[test]
    fn cpp_document_prompt_asks_for_doxygen() {
        let cpp = PromptInput {
            language: Language::Cpp.into(),
            path: "widget.hpp",
            code: "void resize(int w, int h);\n",
            context: "",
        };
        expect![[r#"
            [system]
            You are Kimi, a senior C++ engineer working inside the user's code editor. Answer with the code in exactly one fenced code block and nothing else: no explanation, no line numbers, no placeholder comments such as "rest unchanged".
            [user]
            Code (from `widget.hpp`):
            ```cpp
            void resize(int w, int h);
            ```

            Write the documentation for `resize` as a Doxygen block comment (`/** … */` with a brief summary line, then @param and @return tags where they apply). Say what it does and what callers must know, not how it is implemented. Return only the doc comment itself, without the code it documents."#]]
        .assert_eq(&show(&document(&cpp, "resize")));
    }

    #[test]
    fn tests_prompt_shows_the_existing_test_file() {
        let go = PromptInput {
            language: Language::Go.into(),
            path: "sum.go",
            code: "func Sum(a, b int) int { return a + b }\n",
            context: "",
        };
        expect![[r#"
            [system]
            You are Kimi, a senior Go engineer working inside the user's code editor. Answer with the code in exactly one fenced code block and nothing else: no explanation, no line numbers, no placeholder comments such as "rest unchanged".
            [user]
            Code under test (from `sum.go`):
            ```go
            func Sum(a, b int) int { return a + b }
            ```

            The test file already starts like this:
            ```go
            package sum
            ```

            Write focused unit tests for `Sum`: the normal case, edge cases and error cases. Return only the new test functions, to be appended to that file."#]]
        .assert_eq(&show(&tests(&go, "Sum", "Return only the new test functions, to be appended to that file.", Some("package sum"))));
    }

    #[test]
    fn refactor_and_custom_prompts() {
        expect![[r#"
            [system]
            You are Kimi, a senior Rust engineer working inside the user's code editor. Answer with the code in exactly one fenced code block and nothing else: no explanation, no line numbers, no placeholder comments such as "rest unchanged".
            [user]
            Code (from `src/lib.rs`):
            ```rust
            let x = f(f(1));
            ```

            Rewrite this code: make this iterative
            Return the whole rewritten code, keeping its indentation and everything the instruction does not ask to change."#]]
        .assert_eq(&show(&refactor(&input("let x = f(f(1));\n", ""), "make this iterative")));
        expect![[r#"
            [system]
            You are Kimi, a senior Rust engineer working inside the user's code editor. Answer in concise Markdown.
            [user]
            Review this: x"#]]
        .assert_eq(&show(&custom(&input("x", ""), "Review this: x", false)));
    }
}
