//! Prompt templates with named placeholders, for the user's own code actions. Pure text, kept
//! on a low floor so that `config.rs` can check templates when the settings are read: a typo is
//! reported once instead of failing at every use.

/// The placeholders a template may use; `{{` and `}}` are literal braces.
pub const PLACEHOLDERS: &[(&str, &str)] = &[
    ("selection", "the selected text, or the enclosing function when nothing is selected"),
    ("function", "the enclosing function (empty outside one)"),
    ("file", "the whole file's text"),
    ("path", "the file's path"),
    ("language", "the file's language"),
    ("diagnostics", "the diagnostics the editor sent for the range, one per line"),
    ("context", "imports and definitions from other files used by the code"),
];

#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Text(String),
    Slot(String),
}

fn parse(template: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                text.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                text.push('}');
            }
            '{' => {
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(c) => name.push(c),
                        None => return Err(format!("`{{{name}` is not closed (write `{{{{` for a literal brace)")),
                    }
                }
                let name = name.trim().to_string();
                if !PLACEHOLDERS.iter().any(|(n, _)| *n == name) {
                    let known: Vec<String> = PLACEHOLDERS.iter().map(|(n, _)| format!("{{{n}}}")).collect();
                    return Err(format!("unknown placeholder `{{{name}}}` (known: {})", known.join(" ")));
                }
                pieces.push(Piece::Text(std::mem::take(&mut text)));
                pieces.push(Piece::Slot(name));
            }
            '}' => return Err("a lone `}` (write `}}` for a literal brace)".into()),
            c => text.push(c),
        }
    }
    pieces.push(Piece::Text(text));
    Ok(pieces)
}

/// Checks a template: `Err` names the first problem.
pub fn validate(template: &str) -> Result<(), String> {
    if template.trim().is_empty() {
        return Err("the prompt is empty".into());
    }
    parse(template).map(|_| ())
}

/// Fills a (validated) template; `value` answers each placeholder by name.
pub fn render(template: &str, value: &dyn Fn(&str) -> String) -> String {
    match parse(template) {
        Ok(pieces) => pieces
            .into_iter()
            .map(|p| match p {
                Piece::Text(t) => t,
                Piece::Slot(name) => value(&name),
            })
            .collect(),
        // Validated when read; should it not be, the user sees their template as written.
        Err(_) => template.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_and_double_braces_are_literal() {
        let out = render("Port {selection} to {language} {{as is}}", &|n| format!("<{n}>"));
        assert_eq!(out, "Port <selection> to <language> {as is}");
    }

    #[test]
    fn typos_are_named_with_the_known_placeholders() {
        let err = validate("Fix {selecton}").unwrap_err();
        assert!(err.contains("`{selecton}`") && err.contains("{selection}"), "{err}");
        assert!(validate("a { b").unwrap_err().contains("not closed"));
        assert!(validate("a } b").unwrap_err().contains("lone"));
        assert!(validate("  ").is_err());
        assert!(validate("{ selection }").is_ok());
    }
}
