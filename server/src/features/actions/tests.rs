use super::*;
use crate::context::NoSymbols;

fn site(lang: &str, path: &str, text: &str, selection: Range<usize>) -> Site {
    let uri = format!("file://{path}");
    Site {
        snapshot: Document::new(&uri, lang, 3, text).snapshot(),
        path: Some(PathBuf::from(path)),
        selection,
        diagnostics: Vec::new(),
        notebook: None,
    }
}

fn only_edits(outcome: Outcome) -> Vec<CharEdit> {
    match outcome {
        Outcome::Edits(changes) => match changes.into_iter().next() {
            Some(Change::Edit { edits, .. }) => edits,
            other => panic!("expected an edit, got {other:?}"),
        },
        Outcome::Text { .. } => panic!("expected edits"),
    }
}

const RUST: &str = "fn total(xs: &[u32]) -> u32 {\n    // kimi: use iter().sum()\n    let mut t = 0;\n    for x in xs {\n        t += x;\n    }\n    t\n}\n";

#[test]
fn listing_offers_what_fits_the_place() {
    let s = site("rust", "/w/src/lib.rs", RUST, 10..10);
    let titles: Vec<String> = offers(&s, &[]).into_iter().map(|o| o.title).collect();
    assert_eq!(titles, ["Kimi: Document `total`", "Kimi: Write tests for `total`", "Kimi: Explain this function"]);

    // On the line under an instruction comment: the rewrite is offered with the instruction.
    let cursor = s.snapshot.rope().line_to_char(2);
    let mut s = site("rust", "/w/src/lib.rs", RUST, cursor..cursor);
    s.diagnostics.push(Diag { chars: cursor..cursor + 3, message: "unused variable".into(), source: None, code: None });
    let offered = offers(&s, &[]);
    assert_eq!(offered[0].kind, OfferKind::QuickFix);
    assert_eq!(offered[1].title, "Kimi: Rewrite — use iter().sum()");

    // Nothing in a secret file, and nothing but custom text actions outside any code.
    assert!(offers(&site("rust", "/w/.env", RUST, 0..0), &[]).is_empty());
}

const CPP_HEADER: &str = "#pragma once\n\nnamespace ui {\n\n/// Clamps.\n/// Twice.\ntemplate <typename T>\nT clamp(T v, T lo, T hi);\n\nclass Widget {\npublic:\n    void resize(int w, int h);\n};\n\n}  // namespace ui\n";

#[test]
fn c_and_cpp_items_are_named_through_their_declarators() {
    // A prototype in a header, under a template line and an existing `///` comment.
    let at = CPP_HEADER.find("clamp(").unwrap();
    let s = site("cpp", "/w/src/widget.hpp", CPP_HEADER, at..at);
    let titles: Vec<String> = offers(&s, &[]).into_iter().map(|o| o.title).collect();
    assert_eq!(titles, ["Kimi: Document `clamp`"]);
    let documentable = syntax::documentable(&s.snapshot, at).unwrap();
    assert_eq!((documentable.lines, documentable.doc_lines), (6..8, 4..6));

    // A method declared in its class.
    let at = CPP_HEADER.find("resize").unwrap();
    let d = syntax::documentable(&site("cpp", "/w/src/widget.hpp", CPP_HEADER, at..at).snapshot, at).unwrap();
    assert_eq!((d.name.as_str(), d.lines, d.indent.as_str()), ("resize", 11..12, "    "));

    // A local variable is no item: the function around it is.
    let c = "/** Sums. */\nint sum(const int *xs, int n) {\n    int total = 0;\n    return total;\n}\n";
    let at = c.find("total").unwrap();
    let d = syntax::documentable(&site("c", "/w/sum.c", c, at..at).snapshot, at).unwrap();
    assert_eq!((d.name.as_str(), d.lines, d.doc_lines), ("sum", 1..5, 0..1));
    let titles: Vec<String> = offers(&site("c", "/w/sum.c", c, at..at), &[]).into_iter().map(|o| o.title).collect();
    assert_eq!(titles, ["Kimi: Document `sum`", "Kimi: Write tests for `sum`", "Kimi: Explain this function"]);
}

#[test]
fn a_rewrite_touches_only_the_changed_lines_and_drops_the_instruction() {
    let cursor = RUST.find("let mut").unwrap();
    let end = RUST.find("    t\n}").unwrap() + 6;
    let s = site("rust", "/w/src/lib.rs", RUST, cursor..end);
    let planned = plan(&s, &Action::Refactor, None, &Config::default(), &NoSymbols, &|_| None, true).unwrap();
    // The model answers flush left: re-indented to the body.
    let answer = "```rust\nlet t = xs.iter().sum();\nt\n```";
    let edits = only_edits(apply(&s, planned.target, answer).unwrap());
    assert_eq!(edits.len(), 1, "{edits:?}");
    let e = &edits[0];
    assert_eq!(
        s.snapshot.slice(e.chars.clone()),
        "    // kimi: use iter().sum()\n    let mut t = 0;\n    for x in xs {\n        t += x;\n    }\n"
    );
    assert_eq!(e.text, "    let t = xs.iter().sum();\n");
}

#[test]
fn rust_tests_go_into_the_tests_module_or_a_new_one() {
    let with_mod = "fn a() {}\n\n#[cfg(test)]\nmod tests {\n    use super::*;\n}\n";
    let s = site("rust", "/w/a.rs", with_mod, 3..3);
    let planned = plan(&s, &Action::WriteTests, None, &Config::default(), &NoSymbols, &|_| None, true).unwrap();
    let edits = only_edits(apply(&s, planned.target, "```rust\n#[test]\nfn t() {}\n```").unwrap());
    assert_eq!(edits[0].chars.start, with_mod.rfind('}').unwrap());
    assert_eq!(edits[0].text, "\n    #[test]\n    fn t() {}\n");

    let s = site("rust", "/w/a.rs", "fn a() {}", 3..3);
    let planned = plan(&s, &Action::WriteTests, None, &Config::default(), &NoSymbols, &|_| None, true).unwrap();
    let edits = only_edits(apply(&s, planned.target, "#[test]\nfn t() {}\n").unwrap());
    assert_eq!(edits[0].text, "\n\n#[cfg(test)]\nmod tests {\n    use super::*;\n\n    #[test]\n    fn t() {}\n}\n");
}

#[test]
fn tests_in_another_language_create_the_conventional_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sum.go");
    let s = site("go", path.to_str().unwrap(), "package sum\n\nfunc Sum(a, b int) int {\n\treturn a + b\n}\n", 30..30);
    let planned = plan(&s, &Action::WriteTests, None, &Config::default(), &NoSymbols, &|_| None, true).unwrap();
    match apply(&s, planned.target, "```go\npackage sum\n```").unwrap() {
        Outcome::Edits(changes) => match &changes[..] {
            [Change::Create { uri, text }] => {
                assert!(uri.ends_with("/sum_test.go"), "{uri}");
                assert_eq!(text, "package sum\n");
            }
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_unchanged_answer_or_no_instruction_is_a_clear_error() {
    let s = site("rust", "/w/a.rs", "fn a() {\n    1\n}\n", 9..14);
    let err = plan(&s, &Action::Refactor, None, &Config::default(), &NoSymbols, &|_| None, true).unwrap_err();
    assert!(err.to_string().contains("// kimi:"), "{err}");
    let planned = plan(&s, &Action::Refactor, Some("x"), &Config::default(), &NoSymbols, &|_| None, true).unwrap();
    assert!(matches!(apply(&s, planned.target, "```\n    1\n```"), Err(ActionError::Unchanged)));
}

#[test]
fn java_tests_go_into_the_test_class_of_the_maven_layout() {
    let dir = tempfile::tempdir().unwrap();
    let main = dir.path().join("src/main/java/com/acme");
    let test = dir.path().join("src/test/java/com/acme");
    std::fs::create_dir_all(&main).unwrap();
    std::fs::create_dir_all(&test).unwrap();
    let source = "package com.acme;\n\npublic class Calc {\n    public int add(int a, int b) {\n        return a + b;\n    }\n}\n";
    let existing = "package com.acme;\n\nclass CalcTest {\n    @Test\n    void adds() {}\n}\n";
    std::fs::write(test.join("CalcTest.java"), existing).unwrap();
    let path = main.join("Calc.java");
    let cursor = source.find("return").unwrap();
    let s = site("java", path.to_str().unwrap(), source, cursor..cursor);
    let planned = plan(&s, &Action::WriteTests, None, &Config::default(), &NoSymbols, &|_| None, true).unwrap();
    let user = planned.messages.iter().map(|m| format!("{:?}", m.content)).collect::<String>();
    assert!(user.contains("to be added to that test class"), "{user}");
    let answer = "```java\n@Test\nvoid addsNegatives() {\n    assertEquals(-3, new Calc().add(-1, -2));\n}\n```";
    match apply(&s, planned.target, answer).unwrap() {
        Outcome::Edits(changes) => match &changes[..] {
            [Change::Edit { snapshot, edits, .. }] => {
                assert!(snapshot.uri().ends_with("/src/test/java/com/acme/CalcTest.java"), "{}", snapshot.uri());
                // Before the class's closing brace, indented as a member.
                assert_eq!(edits[0].chars, existing.rfind('}').unwrap()..existing.rfind('}').unwrap());
                assert_eq!(
                    edits[0].text,
                    "\n    @Test\n    void addsNegatives() {\n        assertEquals(-3, new Calc().add(-1, -2));\n    }\n"
                );
            }
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_cut_off_answer_is_never_applied_and_says_what_to_do() {
    let cursor = RUST.find("let mut").unwrap();
    let end = RUST.find("    t\n}").unwrap() + 6;
    let s = site("rust", "/w/src/lib.rs", RUST, cursor..end);
    let planned = plan(&s, &Action::Refactor, None, &Config::default(), &NoSymbols, &|_| None, true).unwrap();
    // A whole block, but the model meant to write more: still cut off.
    let answer = "```rust\nlet t = xs.iter().sum();\n```";
    let err = finished(&s, planned.target.clone(), answer, &FinishReason::Length, 4096).unwrap_err();
    assert!(matches!(err, ActionError::CutOff { max_tokens: 4096 }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("cut off") && message.contains("nothing was changed"), "{message}");
    assert!(message.contains("select less code") && message.contains("`actions.maxTokens`"), "{message}");
    let err = finished(&s, planned.target.clone(), answer, &FinishReason::ContentFilter, 4096).unwrap_err();
    assert!(matches!(err, ActionError::Filtered), "{err:?}");
    // A block that never closes is not applied even when the server named no reason.
    let open = "```rust\nlet t = xs.iter().sum();\n";
    let err = finished(&s, planned.target.clone(), open, &FinishReason::Stop, 4096).unwrap_err();
    assert!(matches!(err, ActionError::Unclosed), "{err:?}");
    assert!(finished(&s, planned.target, answer, &FinishReason::Stop, 4096).is_ok());

    // A cut-off explanation is still shown, saying that it stops short, outside its code block.
    let planned = plan(&s, &Action::Explain, None, &Config::default(), &NoSymbols, &|_| None, true).unwrap();
    let answer = "It sums the slice:\n```rust\nfor x in xs {";
    match finished(&s, planned.target, answer, &FinishReason::Length, 2048).unwrap() {
        Outcome::Text { markdown, .. } => assert_eq!(
            markdown,
            "It sums the slice:\n```rust\nfor x in xs {\n```\n\n> **Cut off:** the answer reached the length limit (2048 tokens, `actions.maxTokens`) and stops here. Select less code, or raise `actions.maxTokens`."
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn edits_in_a_crlf_document_break_lines_with_crlf() {
    let crlf = RUST.replace('\n', "\r\n");
    let cursor = crlf.find("let mut").unwrap();
    let end = crlf.find("    t\r\n}").unwrap() + 7;
    let s = site("rust", "/w/src/lib.rs", &crlf, cursor..end);
    let planned = plan(&s, &Action::Refactor, None, &Config::default(), &NoSymbols, &|_| None, true).unwrap();
    let edits = only_edits(apply(&s, planned.target, "```rust\nlet t = xs.iter().sum();\nt\n```").unwrap());
    // Only the changed lines, as in an `\n` document: the unchanged `t` and `}` stay.
    assert_eq!(edits.len(), 1, "{edits:?}");
    assert_eq!(
        s.snapshot.slice(edits[0].chars.clone()),
        "    // kimi: use iter().sum()\r\n    let mut t = 0;\r\n    for x in xs {\r\n        t += x;\r\n    }\r\n"
    );
    assert_eq!(edits[0].text, "    let t = xs.iter().sum();\r\n");

    let s = site("rust", "/w/src/lib.rs", &crlf, 3..3);
    let planned = plan(&s, &Action::Document, None, &Config::default(), &NoSymbols, &|_| None, true).unwrap();
    let edits = only_edits(apply(&s, planned.target, "```rust\n/// Sums.\n///\n/// Zero when empty.\n```").unwrap());
    assert_eq!(edits[0].text, "/// Sums.\r\n///\r\n/// Zero when empty.\r\n");
    // One stray `\n` as the first line break does not make the document an `\n` one.
    let mixed = crlf.replacen("\r\n", "\n", 1);
    let m = site("rust", "/w/src/lib.rs", &mixed, 3..3);
    let planned = plan(&m, &Action::Document, None, &Config::default(), &NoSymbols, &|_| None, true).unwrap();
    let edits = only_edits(apply(&m, planned.target, "```rust\n/// Sums.\n///\n/// Zero when empty.\n```").unwrap());
    assert_eq!(edits[0].text, "/// Sums.\r\n///\r\n/// Zero when empty.\r\n");

    // A new tests module, and one at the end of a file without a final line break.
    let planned = plan(&s, &Action::WriteTests, None, &Config::default(), &NoSymbols, &|_| None, true).unwrap();
    let edits = only_edits(apply(&s, planned.target, "#[test]\nfn t() {}\n").unwrap());
    assert_eq!(
        edits[0].text,
        "\r\n#[cfg(test)]\r\nmod tests {\r\n    use super::*;\r\n\r\n    #[test]\r\n    fn t() {}\r\n}\r\n"
    );
    let s = site("rust", "/w/a.rs", "fn a() {\r\n}", 3..3);
    let planned = plan(&s, &Action::WriteTests, None, &Config::default(), &NoSymbols, &|_| None, true).unwrap();
    let edits = only_edits(apply(&s, planned.target, "#[test]\nfn t() {}\n").unwrap());
    assert!(edits[0].text.starts_with("\r\n\r\n#[cfg(test)]\r\n") && !edits[0].text.contains("\r\r"), "{edits:?}");
}

#[test]
fn a_new_test_file_takes_the_sources_line_breaks_and_an_existing_one_keeps_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sum.go");
    let source = "package sum\r\n\r\nfunc Sum(a, b int) int {\r\n\treturn a + b\r\n}\r\n";
    let s = site("go", path.to_str().unwrap(), source, 30..30);
    let planned = plan(&s, &Action::WriteTests, None, &Config::default(), &NoSymbols, &|_| None, true).unwrap();
    match apply(&s, planned.target, "```go\npackage sum\n\nimport \"testing\"\n```").unwrap() {
        Outcome::Edits(changes) => match &changes[..] {
            [Change::Create { text, .. }] => assert_eq!(text, "package sum\r\n\r\nimport \"testing\"\r\n"),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
    std::fs::write(dir.path().join("sum_test.go"), "package sum\n").unwrap();
    let planned = plan(&s, &Action::WriteTests, None, &Config::default(), &NoSymbols, &|_| None, true).unwrap();
    assert_eq!(
        only_edits(apply(&s, planned.target, "```go\nfunc TestSum(t *testing.T) {}\n```").unwrap())[0].text,
        "\nfunc TestSum(t *testing.T) {}\n"
    );
}

#[test]
fn an_editor_that_cannot_create_files_is_told_before_the_model_call_and_an_empty_file_is_filled() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sum.go");
    let s = site("go", path.to_str().unwrap(), "package sum\n\nfunc Sum(a, b int) int {\n\treturn a + b\n}\n", 30..30);
    let err = plan(&s, &Action::WriteTests, None, &Config::default(), &NoSymbols, &|_| None, false).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, ActionError::NotApplicable(_)), "{err:?}");
    assert!(message.contains("sum_test.go") && message.contains("create it (empty is fine)"), "{message}");

    // The user made the file, empty: it is filled as a new file would be, package line and all.
    std::fs::write(dir.path().join("sum_test.go"), "").unwrap();
    let planned = plan(&s, &Action::WriteTests, None, &Config::default(), &NoSymbols, &|_| None, false).unwrap();
    let user = planned.messages.iter().map(|m| format!("{:?}", m.content)).collect::<String>();
    assert!(user.contains("Return the complete new test file `sum_test.go`"), "{user}");
    match apply(&s, planned.target, "```go\npackage sum\n\nimport \"testing\"\n```").unwrap() {
        Outcome::Edits(changes) => match &changes[..] {
            [Change::Edit { snapshot, versioned: false, edits }] => {
                assert!(snapshot.uri().ends_with("/sum_test.go"));
                assert_eq!(edits, &[CharEdit { chars: 0..0, text: "package sum\n\nimport \"testing\"\n".into() }]);
            }
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_request_too_long_for_the_model_leaves_out_the_context_never_the_code() {
    let text = "use std::collections::HashMap;\nuse std::fmt;\n\nfn count(xs: &[u32]) -> HashMap<u32, usize> {\n    let mut m = HashMap::new();\n    for x in xs {\n        *m.entry(*x).or_default() += 1;\n    }\n    m\n}\n";
    let at = text.find("let mut").unwrap();
    let s = site("rust", "/w/src/lib.rs", text, at..at);
    let planned = plan(&s, &Action::Explain, None, &Config::default(), &NoSymbols, &|_| None, true).unwrap();
    let user = |m: &[Message]| match &m[1].content {
        crate::providers::Content::Text(t) => t.clone(),
        _ => String::new(),
    };
    assert!(user(&planned.messages).contains("use std::fmt;"), "{}", user(&planned.messages));
    let sent: usize = planned.messages.iter().map(Message::text_len).sum();
    let fit = |chars| Fit { limit: 1000, requested: 2000, chars };
    let smaller = planned.shrink.shrink(&planned.messages, &fit(sent - 1)).unwrap();
    expect_test::expect![[r#"
        Code (from `/w/src/lib.rs`):
        ```rust
        fn count(xs: &[u32]) -> HashMap<u32, usize> {
            let mut m = HashMap::new();
            for x in xs {
                *m.entry(*x).or_default() += 1;
            }
            m
        }
        ```

        Explain what this code does and why, for a developer who is about to change it: its purpose, how it works step by step, its inputs and outputs, and anything surprising (edge cases, errors, performance)."#]]
    .assert_eq(&user(&smaller));
    assert_eq!(smaller[0], planned.messages[0], "the system prompt stays");
    // The code alone is longer than what fits: nothing is sent again.
    let bare: usize = smaller.iter().map(Message::text_len).sum();
    assert_eq!(planned.shrink.shrink(&planned.messages, &fit(bare - 1)), None);
    // Pieces are kept in order while they fit; one too long is skipped, not the rest.
    let pieces = ["aaaa".to_string(), "bbbbbbbbbb".to_string(), "cc".to_string()];
    assert_eq!(keep_pieces(&pieces, 7), "aaaacc");
    assert_eq!(keep_pieces(&pieces, 100), "aaaabbbbbbbbbbcc");
}

#[test]
fn a_notebook_cells_above_are_sent_nearest_first_when_they_are_long() {
    let view = "# %%\nimport pandas as pd\n\n# %% [markdown]\n# ## Totals\n\n# %%\ntotals = 1\n";
    let start = view.rfind("totals").unwrap();
    assert_eq!(
        cells_above(view, start, "#").unwrap(),
        "# The notebook's cells above this one:\n# %%\nimport pandas as pd\n\n# %% [markdown]\n# ## Totals\n\n"
    );
    // The first cell has nothing above it.
    assert_eq!(cells_above(view, "# %%\n".len(), "#"), None);
    // Long: the cells nearest the edited one are kept, from a whole line, and the cut is said.
    let long: String = (0..2_000).map(|i| format!("row_{i} = {i}\n")).collect();
    let view = format!("// %%\n{long}\n// %%\nlet x = 1;\n");
    let start = view.rfind("let x").unwrap();
    let above = cells_above(&view, start, "//").unwrap();
    assert!(above.starts_with("// The notebook's cells above this one:\n// (earlier cells left out)\nrow_"), "{above}");
    assert!(above.ends_with("row_1999 = 1999\n\n"), "{above}");
    assert!(above.chars().count() <= NOTEBOOK_ABOVE_CHARS + 100, "{}", above.len());
    let first = above.lines().nth(2).unwrap();
    assert!(long.lines().any(|l| l == first), "cut inside a line: {first}");
}
