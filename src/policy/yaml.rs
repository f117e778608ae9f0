//! Reads YAML (and JSON, which YAML 1.2 contains) into a tree of values that remember
//! their line and column, so that every later check can say where a problem is.
//!
//! Scalars are resolved with the YAML 1.2 core schema (`3:4` and `2026-12-31` are strings;
//! `yes` is a string, not a bool). Duplicate keys are errors. Aliases are expanded, with a
//! cap on the tree's size and depth so hostile input cannot exhaust memory or the stack.
//! This module does not know what a policy is.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

/// The deepest nesting accepted, aliases included; a policy needs about six levels. Kept
/// low enough that the recursive walks of a tree (checks, clones, drops) stay far inside a
/// 2 MiB thread stack, the size of the runtime's worker threads.
const MAX_DEPTH: usize = 32;
/// The most nodes one document may expand to (aliases included).
const MAX_NODES: usize = 2_000_000;

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Keys in document order.
    Map(Vec<(Node, Node)>),
}

/// A value and where it starts (1-based line and column).
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub value: Value,
    pub line: u32,
    pub col: u32,
    /// The text as written, for a plain scalar that resolved to a number or a boolean
    /// (`010`, `0x1F`, `True`): a name keeps this text, never the resolved value's.
    pub written: Option<Box<str>>,
}

impl Node {
    /// A short name of the value's kind, for "expected X, found Y" messages.
    pub fn kind(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The scalar's text as written (`0x1F` stays `0x1F`), whatever it resolved to.
    pub fn scalar_text(&self) -> Option<String> {
        if let Some(w) = &self.written {
            return Some(w.to_string());
        }
        match &self.value {
            Value::Str(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Null => Some(String::new()),
            Value::Seq(_) | Value::Map(_) => None,
        }
    }
}

/// A document that could not be read as YAML.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct YamlError {
    pub line: u32,
    pub col: u32,
    pub message: String,
}

fn pos(span: &Span) -> (u32, u32) {
    let line = u32::try_from(span.start.line()).unwrap_or(u32::MAX);
    let col = u32::try_from(span.start.col()).unwrap_or(u32::MAX);
    // saphyr's columns are 0-based in some versions; a column is never reported as 0.
    (line.max(1), col.saturating_add(1))
}

/// Whether `text`, written as a plain scalar value, reads back as that same text (and not
/// as a number, a boolean or null).
pub fn reads_as_text(text: &str) -> bool {
    matches!(resolve_plain(text), Value::Str(_))
}

fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let (sign, digits) = match text.strip_prefix('-') {
        Some(rest) => (-1i64, rest),
        None => (1, text.strip_prefix('+').unwrap_or(text)),
    };
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(v) = digits.parse::<i64>() {
            return Value::Int(sign * v);
        }
        return Value::Str(text.to_string());
    }
    if let Some(hex) = text.strip_prefix("0x")
        && let Ok(v) = i64::from_str_radix(hex, 16)
    {
        return Value::Int(v);
    }
    if let Some(oct) = text.strip_prefix("0o")
        && let Ok(v) = i64::from_str_radix(oct, 8)
    {
        return Value::Int(v);
    }
    let is_float = {
        let body = text.trim_start_matches(['-', '+']);
        let mantissa = body.split(['e', 'E']).next().unwrap_or("");
        !mantissa.is_empty()
            && mantissa != "."
            && mantissa.bytes().all(|b| b.is_ascii_digit() || b == b'.')
            && mantissa.bytes().filter(|b| *b == b'.').count() <= 1
            && body
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_digit() || b == b'.')
    };
    if is_float && let Ok(v) = text.parse::<f64>() {
        return Value::Float(v);
    }
    match text {
        ".inf" | ".Inf" | ".INF" | "+.inf" => Value::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => Value::Float(f64::NAN),
        _ => Value::Str(text.to_string()),
    }
}

enum Frame {
    Seq(Node, usize),
    /// The mapping, its pending key, its anchor, and the keys seen so far (text → line).
    Map(Node, Option<Node>, usize, HashMap<String, u32>),
}

struct Builder {
    stack: Vec<Frame>,
    /// Anchored nodes and how deep each is (1 for a scalar).
    anchors: HashMap<usize, (Node, usize)>,
    nodes: usize,
}

impl Builder {
    /// True when the next node is a mapping key.
    fn expects_key(&self) -> bool {
        matches!(self.stack.last(), Some(Frame::Map(_, None, _, _)))
    }

    fn count(&mut self, n: usize, line: u32, col: u32) -> Result<(), YamlError> {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > MAX_NODES {
            return Err(YamlError {
                line,
                col,
                message: format!("document expands to more than {MAX_NODES} values"),
            });
        }
        Ok(())
    }

    /// Places a finished node into its parent; returns it when it is the document root.
    fn push(&mut self, node: Node) -> Result<Option<Node>, YamlError> {
        match self.stack.last_mut() {
            None => Ok(Some(node)),
            Some(Frame::Seq(seq, _)) => {
                if let Value::Seq(items) = &mut seq.value {
                    items.push(node);
                }
                Ok(None)
            }
            Some(Frame::Map(map, pending, _, seen)) => match pending.take() {
                None => {
                    if matches!(node.value, Value::Seq(_) | Value::Map(_)) {
                        return Err(YamlError {
                            line: node.line,
                            col: node.col,
                            message: "a mapping key must be a plain value, not a list or mapping"
                                .into(),
                        });
                    }
                    let text = node.scalar_text().unwrap_or_default();
                    if let Some(first) = seen.get(&text) {
                        return Err(YamlError {
                            line: node.line,
                            col: node.col,
                            message: format!("duplicate key `{text}` (first at line {first})"),
                        });
                    }
                    seen.insert(text, node.line);
                    *pending = Some(node);
                    Ok(None)
                }
                Some(key) => {
                    if let Value::Map(entries) = &mut map.value {
                        entries.push((key, node));
                    }
                    Ok(None)
                }
            },
        }
    }
}

fn node_size(n: &Node) -> usize {
    match &n.value {
        Value::Seq(items) => 1 + items.iter().map(node_size).sum::<usize>(),
        Value::Map(entries) => {
            1 + entries
                .iter()
                .map(|(k, v)| node_size(k) + node_size(v))
                .sum::<usize>()
        }
        _ => 1,
    }
}

/// How deep a tree is: 1 for a scalar. Only called on trees already within
/// [`MAX_DEPTH`], so the recursion is bounded.
fn node_depth(n: &Node) -> usize {
    match &n.value {
        Value::Seq(items) => 1 + items.iter().map(node_depth).max().unwrap_or(0),
        Value::Map(entries) => {
            1 + entries
                .iter()
                .map(|(k, v)| node_depth(k).max(node_depth(v)))
                .max()
                .unwrap_or(0)
        }
        _ => 1,
    }
}

/// The first character a YAML stream may not hold, with its 1-based line and column.
/// YAML 1.2 takes tab, line feed, carriage return, NEL and the printable characters; a
/// NUL or another control character is an error here, never the silent end of the
/// document (the parser would stop reading at it, and the rules after it would be lost).
fn unreadable_char(text: &str) -> Option<YamlError> {
    let (at, c) = text.char_indices().find(|(_, c)| {
        let c = *c;
        !(c == '\t'
            || c == '\n'
            || c == '\r'
            || c == '\u{85}'
            || (' '..='~').contains(&c)
            || ('\u{A0}'..='\u{D7FF}').contains(&c)
            || ('\u{E000}'..='\u{FFFD}').contains(&c) && c != '\u{FEFF}'
            || ('\u{10000}'..='\u{10FFFF}').contains(&c))
    })?;
    let (line, col) = position(text, at);
    let name = match c {
        '\0' => "a NUL byte".to_string(),
        '\u{FEFF}' => "a byte order mark inside the text".to_string(),
        c => format!("the control character U+{:04X}", u32::from(c)),
    };
    Some(YamlError {
        line,
        col,
        message: format!(
            "{name}, which YAML does not allow: the file is cut or is not a text file"
        ),
    })
}

/// 1-based line and column (in characters) of a byte offset.
fn position(text: &str, at: usize) -> (u32, u32) {
    let before = &text.as_bytes()[..at.min(text.len())];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    let col = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    (
        u32::try_from(line).unwrap_or(u32::MAX),
        u32::try_from(col).unwrap_or(u32::MAX),
    )
}

/// Bytes as the text of a document, without copying them: UTF-8, with a leading byte
/// order mark dropped (YAML and JSON both allow one). Invalid UTF-8 is an error at its
/// line and column.
pub fn decode(mut bytes: Vec<u8>) -> Result<String, YamlError> {
    if bytes.starts_with(b"\xEF\xBB\xBF") {
        bytes.drain(..3);
    }
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let bytes = e.into_bytes();
        let (line, col) = position(std::str::from_utf8(&bytes[..at]).unwrap_or_default(), at);
        YamlError {
            line,
            col,
            message: format!(
                "not UTF-8 text (byte 0x{:02X} at offset {at})",
                bytes.get(at).copied().unwrap_or(0)
            ),
        }
    })
}

/// JSON writes a character outside the Basic Multilingual Plane as a pair of escapes
/// (`"\ud83d\udd25"`), which the YAML parser refuses one half at a time. This writes each
/// such pair as the one escape YAML reads (`\U0001f525`); `None` when there is none.
/// Columns after a rewritten pair on the same line move left by two.
fn join_surrogate_pairs(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let hex = |at: usize| -> Option<u32> {
        let digits = std::str::from_utf8(b.get(at..at + 4)?).ok()?;
        u32::from_str_radix(digits, 16).ok()
    };
    let mut out = String::with_capacity(text.len());
    let (mut i, mut copied, mut escapes) = (0, 0, 0usize);
    while i < b.len() {
        if b[i] != b'\\' {
            escapes = 0;
            i += 1;
            continue;
        }
        // A backslash that is itself escaped (`\\u…`) starts no escape.
        if escapes % 2 == 0
            && b.get(i + 1) == Some(&b'u')
            && b.get(i + 6) == Some(&b'\\')
            && b.get(i + 7) == Some(&b'u')
            && let (Some(high @ 0xD800..=0xDBFF), Some(low @ 0xDC00..=0xDFFF)) =
                (hex(i + 2), hex(i + 8))
        {
            let c = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
            out.push_str(&text[copied..i]);
            out.push_str(&format!("\\U{c:08x}"));
            i += 12;
            copied = i;
            escapes = 0;
            continue;
        }
        escapes += 1;
        i += 1;
    }
    (copied > 0).then(|| {
        out.push_str(&text[copied..]);
        out
    })
}

/// Parses one YAML document into a positioned tree. An empty document is `Null`.
/// More than one document in the stream is an error, and so is a character YAML does
/// not allow (a NUL byte, a control character). A leading byte order mark is skipped,
/// and JSON's surrogate-pair escapes are read as the character they encode.
pub fn parse(text: &str) -> Result<Node, YamlError> {
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    if let Some(e) = unreadable_char(text) {
        return Err(e);
    }
    match parse_stream(text) {
        Err(e) if e.message.contains("invalid Unicode character escape") => {
            match join_surrogate_pairs(text) {
                Some(joined) => parse_stream(&joined),
                None => Err(e),
            }
        }
        parsed => parsed,
    }
}

fn parse_stream(text: &str) -> Result<Node, YamlError> {
    let mut b = Builder {
        stack: Vec::new(),
        anchors: HashMap::new(),
        nodes: 0,
    };
    let mut root: Option<Node> = None;
    let mut documents = 0;
    for item in Parser::new_from_str(text) {
        let (event, span) = item.map_err(|e| YamlError {
            line: u32::try_from(e.marker().line()).unwrap_or(u32::MAX).max(1),
            col: u32::try_from(e.marker().col())
                .unwrap_or(u32::MAX)
                .saturating_add(1),
            message: e.info().to_string(),
        })?;
        let (line, col) = pos(&span);
        let finished = match event {
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(YamlError {
                        line,
                        col,
                        message: "more than one YAML document in the file; a policy file holds one"
                            .into(),
                    });
                }
                None
            }
            Event::Scalar(value, style, anchor, tag) => {
                b.count(1, line, col)?;
                let is_str_tag = tag
                    .as_ref()
                    .is_some_and(|t| t.is_yaml_core_schema() && t.suffix == "str");
                // A mapping key names something (a group, a variable, a field): it keeps its
                // text as written, so `010`, `0x1F`, `True` or `.inf` stay those names.
                let (v, written) = if style != ScalarStyle::Plain || is_str_tag || b.expects_key() {
                    (Value::Str(value.into_owned()), None)
                } else {
                    match resolve_plain(&value) {
                        Value::Str(s) => (Value::Str(s), None),
                        Value::Null => (Value::Null, None),
                        other => (other, Some(value.into_owned().into_boxed_str())),
                    }
                };
                let node = Node {
                    value: v,
                    line,
                    col,
                    written,
                };
                if anchor > 0 {
                    b.anchors.insert(anchor, (node.clone(), 1));
                }
                b.push(node)?
            }
            Event::Alias(id) => {
                let Some((node, depth)) = b.anchors.get(&id).cloned() else {
                    return Err(YamlError {
                        line,
                        col,
                        message: "alias to an unknown anchor".into(),
                    });
                };
                if b.stack.len() + depth > MAX_DEPTH {
                    return Err(YamlError {
                        line,
                        col,
                        message: format!(
                            "nesting deeper than {MAX_DEPTH} levels (through an alias)"
                        ),
                    });
                }
                b.count(node_size(&node), line, col)?;
                b.push(Node { line, col, ..node })?
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                b.count(1, line, col)?;
                if b.stack.len() >= MAX_DEPTH {
                    return Err(YamlError {
                        line,
                        col,
                        message: format!("nesting deeper than {MAX_DEPTH} levels"),
                    });
                }
                if matches!(event, Event::SequenceStart(..)) {
                    let node = Node {
                        value: Value::Seq(Vec::new()),
                        line,
                        col,
                        written: None,
                    };
                    b.stack.push(Frame::Seq(node, anchor));
                } else {
                    let node = Node {
                        value: Value::Map(Vec::new()),
                        line,
                        col,
                        written: None,
                    };
                    b.stack.push(Frame::Map(node, None, anchor, HashMap::new()));
                }
                None
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match b.stack.pop() {
                    Some(Frame::Seq(n, a)) => (n, a),
                    Some(Frame::Map(n, _, a, _)) => (n, a),
                    None => {
                        return Err(YamlError {
                            line,
                            col,
                            message: "unbalanced end of a collection".into(),
                        });
                    }
                };
                if anchor > 0 {
                    let depth = node_depth(&node);
                    b.anchors.insert(anchor, (node.clone(), depth));
                }
                b.push(node)?
            }
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => None,
        };
        if let Some(n) = finished {
            root = Some(n);
        }
    }
    Ok(root.unwrap_or(Node {
        value: Value::Null,
        line: 1,
        col: 1,
        written: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map_get<'a>(n: &'a Node, key: &str) -> &'a Node {
        match &n.value {
            Value::Map(e) => &e.iter().find(|(k, _)| k.as_str() == Some(key)).unwrap().1,
            _ => panic!("not a map"),
        }
    }

    #[test]
    fn scalars_follow_the_yaml_1_2_core_schema() {
        let n =
            parse("a: 3:4\nb: 2026-12-31\nc: yes\nd: 1\ne: '1'\nf: ~\ng: true\nh: 1.5\ni: 0x1F")
                .unwrap();
        assert_eq!(map_get(&n, "a").value, Value::Str("3:4".into()));
        assert_eq!(map_get(&n, "b").value, Value::Str("2026-12-31".into()));
        assert_eq!(map_get(&n, "c").value, Value::Str("yes".into()));
        assert_eq!(map_get(&n, "d").value, Value::Int(1));
        assert_eq!(map_get(&n, "e").value, Value::Str("1".into()));
        assert_eq!(map_get(&n, "f").value, Value::Null);
        assert_eq!(map_get(&n, "g").value, Value::Bool(true));
        assert_eq!(map_get(&n, "h").value, Value::Float(1.5));
        assert_eq!(map_get(&n, "i").value, Value::Int(31));
    }

    #[test]
    fn positions_are_one_based_lines_and_columns() {
        let n = parse("groups:\n  web:\n    ingress:\n      - tcp/80 from 0.0.0.0/0\n").unwrap();
        let rule = match &map_get(map_get(map_get(&n, "groups"), "web"), "ingress").value {
            Value::Seq(items) => items[0].clone(),
            _ => panic!(),
        };
        assert_eq!((rule.line, rule.col), (4, 9));
    }

    #[test]
    fn json_reads_as_yaml_with_positions() {
        let n = parse("{\n  \"version\": 1,\n  \"groups\": {}\n}").unwrap();
        assert_eq!(map_get(&n, "version").value, Value::Int(1));
        assert_eq!(map_get(&n, "groups").line, 3);
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let e = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(
            e.message.contains("duplicate key `a` (first at line 1)"),
            "{}",
            e.message
        );
    }

    #[test]
    fn aliases_expand_and_deep_nesting_is_refused() {
        let n = parse("a: &x [1, 2]\nb: *x\n").unwrap();
        assert_eq!(map_get(&n, "b").kind(), "a list");
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert!(parse(&deep).unwrap_err().message.contains("nesting"));
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut doc = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            let prev = format!("*a{}", i - 1);
            doc.push_str(&format!("a{i}: &a{i} [{}]\n", vec![prev; 10].join(", ")));
        }
        assert!(parse(&doc).unwrap_err().message.contains("expands"));
    }

    #[test]
    fn syntax_errors_carry_a_position() {
        let e = parse("a: [1, 2\nb: 3").unwrap_err();
        assert!(e.line >= 1 && !e.message.is_empty());
    }
}
