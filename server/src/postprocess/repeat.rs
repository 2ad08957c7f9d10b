//! Rule 6's second half: output stuck in a loop. Models that lose the thread repeat a line (or a
//! small group of lines) or a short pattern until they run out of tokens.

use super::site::lines;

/// The longest group of lines checked for repetition.
const MAX_PERIOD_LINES: usize = 4;
/// A group of lines repeated this many times in a row is a loop.
const MIN_LINE_REPEATS: usize = 3;
/// The longest pattern looked for at the end of the output, in characters.
const MAX_PATTERN_CHARS: usize = 16;
/// A pattern repeated this often at the very end of the output, over at least this many
/// characters, is a loop that ran until the token limit. A literal such as `[0, 0, 0, 0]` ends
/// with its closer, so it does not match.
const MIN_PATTERN_REPEATS: usize = 8;
const MIN_PATTERN_RUN_CHARS: usize = 32;
/// Only the end of the output is examined for patterns.
const PATTERN_WINDOW_CHARS: usize = 512;

pub(crate) fn is_repetitive(text: &str) -> bool {
    loop_end(text).is_some() || ends_in_a_loop(text)
}

/// Where the same line, or the same group of up to four lines, has been seen three times in a
/// row: the end of the line that completes the third copy. Groups without a letter or digit
/// (runs of `}` closing nested blocks) are ordinary code.
pub(crate) fn loop_end(text: &str) -> Option<usize> {
    let all: Vec<(&str, usize)> = lines(text).map(|l| (text[l.start..l.end].trim_end(), l.end)).collect();
    // runs[p]: how many lines in a row have equalled the line p above them.
    let mut runs = [0usize; MAX_PERIOD_LINES + 1];
    for (i, &(line, end)) in all.iter().enumerate() {
        let periods = runs.iter_mut().enumerate().skip(1).take(i.min(MAX_PERIOD_LINES));
        for (period, run) in periods {
            if line != all[i - period].0 {
                *run = 0;
                continue;
            }
            *run += 1;
            if *run >= period * (MIN_LINE_REPEATS - 1)
                && all[i + 1 - period..=i].iter().any(|(l, _)| l.chars().any(char::is_alphanumeric))
            {
                return Some(end);
            }
        }
    }
    None
}

/// The output ends with a short pattern repeated many times (`foo(foo(foo(…`, `a, a, a, …`).
/// A run of one punctuation character (`// -------`, `=====`) is a divider, not a loop.
fn ends_in_a_loop(text: &str) -> bool {
    let tail: Vec<char> = {
        let mut rev: Vec<char> = text.trim_end().chars().rev().take(PATTERN_WINDOW_CHARS).collect();
        rev.reverse();
        rev
    };
    let n = tail.len();
    (1..=MAX_PATTERN_CHARS.min(n / 2)).any(|period| {
        // The length of the periodic end: positions j with tail[j] == tail[j + period].
        let matching = (0..n - period).rev().take_while(|&j| tail[j] == tail[j + period]).count();
        let run = matching + period;
        let pattern = &tail[n - period..];
        let divider =
            pattern.iter().all(|&c| c == pattern[0]) && !pattern[0].is_alphanumeric() && !"()[]{}".contains(pattern[0]);
        let blank = pattern.iter().all(|c| c.is_whitespace());
        run >= MIN_PATTERN_RUN_CHARS && run / period >= MIN_PATTERN_REPEATS && !divider && !blank
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_loops() {
        let loops = |t: &str| loop_end(t).is_some();
        assert!(loops("x += 1;\nx += 1;\nx += 1;"));
        assert!(loops("let a = 1;\nfoo();\nbar();\nfoo();\nbar();\nfoo();\nbar();"));
        assert!(!loops("x += 1;\nx += 1;"));
        assert!(!loops("            }\n        }\n    }\n}"));
        assert!(!loops("}\n}\n}\n}"));
        assert!(!loops("case 1:\n    break;\ncase 2:\n    break;\ncase 3:\n    break;"));
        // Found where the third copy ends, however much follows.
        assert_eq!(loop_end("a;\nb;\nb;\nb;\nb;"), Some(11));
    }

    #[test]
    fn pattern_loops_at_the_end() {
        assert!(ends_in_a_loop(&"foo(".repeat(10)));
        assert!(ends_in_a_loop(&format!("let v = [{}", "0, ".repeat(12))));
        assert!(ends_in_a_loop(&format!("x{}", ")".repeat(40))));
        assert!(!ends_in_a_loop(&format!("let v = [{}0];", "0, ".repeat(12))));
        assert!(!ends_in_a_loop(&format!("// {}", "-".repeat(70))));
        assert!(!ends_in_a_loop("let total = items.iter().map(|i| i.price).sum::<u64>();"));
        assert!(!ends_in_a_loop(""));
    }
}
