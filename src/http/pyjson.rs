//! A JSON reader that fails exactly like the reference stack's (CPython's `json.loads` on the
//! request bytes): the same accepted inputs (`NaN`, `Infinity`, arbitrary-size integers,
//! UTF-16/32 detection, a UTF-8 BOM), the same error messages and the same error positions
//! (counted in characters, not bytes). Clients see these in `422 json_invalid` answers, so
//! they are part of the contract.
use serde_json::{Map, Number, Value};

/// How deep containers may nest. The reference stack gives up (with a 400) past this depth.
pub(crate) const MAX_DEPTH: usize = 960;

/// Why a body is not JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum JsonError {
    /// The bytes are not text in the detected encoding, or nest too deeply: the reference
    /// stack answers these with `400 There was an error parsing the body`.
    Undecodable,
    /// A syntax error with CPython's message and character position.
    Syntax { msg: &'static str, pos: usize },
}

/// Parses a request body. Non-finite numbers become the strings `"NaN"`, `"Infinity"` and
/// `"-Infinity"` (they cannot be echoed in JSON), and lone surrogates become U+FFFD.
pub(crate) fn parse(bytes: &[u8]) -> Result<Value, JsonError> {
    let text = decode(bytes).ok_or(JsonError::Undecodable)?;
    let mut p = Parser { s: &text };
    let start = p.skip_ws(0);
    let (value, end) = match p.value(start) {
        Ok(v) => v,
        Err(Fail::Stop(pos)) => {
            return Err(JsonError::Syntax { msg: "Expecting value", pos });
        }
        Err(Fail::Error(e)) => return Err(e),
    };
    let end = p.skip_ws(end);
    if end != text.len() {
        return Err(JsonError::Syntax { msg: "Extra data", pos: end });
    }
    Ok(value)
}

/// Python's `json.detect_encoding`, then a strict decode into characters.
fn decode(b: &[u8]) -> Option<Vec<char>> {
    const BOM8: &[u8] = b"\xef\xbb\xbf";
    if b.starts_with(b"\x00\x00\xfe\xff") {
        return utf32(&b[4..], true);
    }
    if b.starts_with(b"\xff\xfe\x00\x00") {
        return utf32(&b[4..], false);
    }
    if b.starts_with(b"\xfe\xff") {
        return utf16(&b[2..], true);
    }
    if b.starts_with(b"\xff\xfe") {
        return utf16(&b[2..], false);
    }
    if let Some(rest) = b.strip_prefix(BOM8) {
        return std::str::from_utf8(rest).ok().map(|s| s.chars().collect());
    }
    if b.len() >= 4 {
        if b[0] == 0 {
            return if b[1] != 0 { utf16(b, true) } else { utf32(b, true) };
        }
        if b[1] == 0 {
            return if b[2] != 0 || b[3] != 0 { utf16(b, false) } else { utf32(b, false) };
        }
    } else if b.len() == 2 {
        if b[0] == 0 {
            return utf16(b, true);
        }
        if b[1] == 0 {
            return utf16(b, false);
        }
    }
    std::str::from_utf8(b).ok().map(|s| s.chars().collect())
}

fn utf16(b: &[u8], big_endian: bool) -> Option<Vec<char>> {
    if !b.len().is_multiple_of(2) {
        return None;
    }
    let units = b.chunks_exact(2).map(|c| {
        let pair = [c[0], c[1]];
        if big_endian { u16::from_be_bytes(pair) } else { u16::from_le_bytes(pair) }
    });
    // Python decodes these with 'surrogatepass'; a lone surrogate cannot live in a Rust
    // string, so it becomes U+FFFD.
    Some(char::decode_utf16(units).map(|r| r.unwrap_or('\u{fffd}')).collect())
}

fn utf32(b: &[u8], big_endian: bool) -> Option<Vec<char>> {
    if !b.len().is_multiple_of(4) {
        return None;
    }
    b.chunks_exact(4)
        .map(|c| {
            let quad = [c[0], c[1], c[2], c[3]];
            let v = if big_endian { u32::from_be_bytes(quad) } else { u32::from_le_bytes(quad) };
            match v {
                0xD800..=0xDFFF => Some('\u{fffd}'),
                _ => char::from_u32(v),
            }
        })
        .collect()
}

enum Fail {
    /// No value starts here (Python's `StopIteration`): becomes "Expecting value" at the
    /// position where the caller expected one.
    Stop(usize),
    Error(JsonError),
}

fn syntax(msg: &'static str, pos: usize) -> Fail {
    Fail::Error(JsonError::Syntax { msg, pos })
}

struct Parser<'a> {
    s: &'a [char],
}

/// An open container while parsing: nesting is kept on the heap, not the call stack, so no
/// input can overflow the stack.
enum Frame {
    Array(Vec<Value>),
    /// An object and the key whose value is being read.
    Object(Map<String, Value>, String),
}

impl Parser<'_> {
    fn at(&self, i: usize) -> Option<char> {
        self.s.get(i).copied()
    }

    fn skip_ws(&self, mut i: usize) -> usize {
        while matches!(self.at(i), Some(' ' | '\t' | '\n' | '\r')) {
            i += 1;
        }
        i
    }

    fn matches(&self, i: usize, word: &str) -> bool {
        let n = word.chars().count();
        i + n <= self.s.len() && self.s[i..i + n].iter().copied().eq(word.chars())
    }

    /// Reads `"key" :` starting at `i` (which must be the key's opening quote); returns the
    /// key and where its value starts.
    fn key(&self, i: usize) -> Result<(String, usize), Fail> {
        if self.at(i) != Some('"') {
            return Err(syntax("Expecting property name enclosed in double quotes", i));
        }
        let (key, next) = self.string(i + 1)?;
        let colon = self.skip_ws(next);
        if self.at(colon) != Some(':') {
            return Err(syntax("Expecting ':' delimiter", colon));
        }
        Ok((key, self.skip_ws(colon + 1)))
    }

    /// CPython's `scan_once`: a value starting exactly at `i`.
    fn value(&mut self, mut i: usize) -> Result<(Value, usize), Fail> {
        let mut stack: Vec<Frame> = Vec::new();
        'value: loop {
            // Read one value at `i`, or open a container and go read its first member.
            let (mut value, mut end) = match self.at(i) {
                Some(open @ ('{' | '[')) => {
                    if stack.len() >= MAX_DEPTH {
                        return Err(Fail::Error(JsonError::Undecodable));
                    }
                    let j = self.skip_ws(i + 1);
                    match (open, self.at(j)) {
                        ('{', Some('}')) => (Value::Object(Map::new()), j + 1),
                        ('[', Some(']')) => (Value::Array(Vec::new()), j + 1),
                        ('{', _) => {
                            let (key, next) = self.key(j)?;
                            stack.push(Frame::Object(Map::new(), key));
                            i = next;
                            continue 'value;
                        }
                        _ => {
                            stack.push(Frame::Array(Vec::new()));
                            i = j;
                            continue 'value;
                        }
                    }
                }
                _ => self.scalar(i)?,
            };
            // Hand the finished value to the containers it closes.
            loop {
                let j = self.skip_ws(end);
                match stack.last_mut() {
                    None => return Ok((value, end)),
                    Some(Frame::Array(items)) => {
                        items.push(value);
                        match self.at(j) {
                            Some(',') => {
                                i = self.skip_ws(j + 1);
                                continue 'value;
                            }
                            Some(']') => {}
                            _ => return Err(syntax("Expecting ',' delimiter", j)),
                        }
                    }
                    Some(Frame::Object(map, key)) => {
                        // A repeated key keeps the last value, as Python's dict does.
                        map.insert(std::mem::take(key), value);
                        match self.at(j) {
                            Some(',') => {
                                let (next_key, next) = self.key(self.skip_ws(j + 1))?;
                                *key = next_key;
                                i = next;
                                continue 'value;
                            }
                            Some('}') => {}
                            _ => return Err(syntax("Expecting ',' delimiter", j)),
                        }
                    }
                }
                value = match stack.pop() {
                    Some(Frame::Array(items)) => Value::Array(items),
                    Some(Frame::Object(map, _)) => Value::Object(map),
                    None => unreachable!("a frame was just inspected"),
                };
                end = j + 1;
            }
        }
    }

    /// A string, literal or number at `i`; `Stop(i)` when none starts there.
    fn scalar(&self, i: usize) -> Result<(Value, usize), Fail> {
        let len = self.s.len();
        let Some(c) = self.at(i) else {
            return Err(Fail::Stop(i));
        };
        match c {
            '"' => {
                let (s, end) = self.string(i + 1)?;
                return Ok((Value::String(s), end));
            }
            'n' if i + 3 < len && self.matches(i, "null") => return Ok((Value::Null, i + 4)),
            't' if i + 3 < len && self.matches(i, "true") => return Ok((Value::Bool(true), i + 4)),
            'f' if i + 4 < len && self.matches(i, "false") => {
                return Ok((Value::Bool(false), i + 5));
            }
            'N' if i + 2 < len && self.matches(i, "NaN") => {
                return Ok((Value::String("NaN".into()), i + 3));
            }
            'I' if i + 7 < len && self.matches(i, "Infinity") => {
                return Ok((Value::String("Infinity".into()), i + 8));
            }
            '-' if i + 8 < len && self.matches(i, "-Infinity") => {
                return Ok((Value::String("-Infinity".into()), i + 9));
            }
            _ => {}
        }
        self.number(i)
    }

    fn number(&self, start: usize) -> Result<(Value, usize), Fail> {
        let end_idx = self.s.len() as isize - 1;
        let digit = |i: usize| self.at(i).is_some_and(|c| c.is_ascii_digit());
        let mut i = start;
        if self.at(i) == Some('-') {
            i += 1;
            if i as isize > end_idx {
                return Err(Fail::Stop(start));
            }
        }
        match self.at(i) {
            Some('1'..='9') => {
                i += 1;
                while digit(i) {
                    i += 1;
                }
            }
            Some('0') => i += 1,
            _ => return Err(Fail::Stop(start)),
        }
        let mut is_float = false;
        if (i as isize) < end_idx && self.at(i) == Some('.') && digit(i + 1) {
            is_float = true;
            i += 2;
            while digit(i) {
                i += 1;
            }
        }
        if (i as isize) < end_idx && matches!(self.at(i), Some('e' | 'E')) {
            let e_start = i;
            i += 1;
            if (i as isize) < end_idx && matches!(self.at(i), Some('-' | '+')) {
                i += 1;
            }
            while digit(i) {
                i += 1;
            }
            if digit(i - 1) {
                is_float = true;
            } else {
                i = e_start;
            }
        }
        let text: String = self.s[start..i].iter().collect();
        let value = if is_float {
            let f: f64 = text.parse().map_err(|_| Fail::Stop(start))?;
            if f.is_finite() {
                Value::Number(Number::from_f64(f).ok_or(Fail::Stop(start))?)
            } else if f > 0.0 {
                Value::String("Infinity".into())
            } else {
                Value::String("-Infinity".into())
            }
        } else {
            let normalized = if text == "-0" { "0" } else { text.as_str() };
            Value::Number(normalized.parse::<Number>().map_err(|_| Fail::Stop(start))?)
        };
        Ok((value, i))
    }

    /// CPython's `scanstring`: `i` is just past the opening quote.
    fn string(&self, mut end: usize) -> Result<(String, usize), Fail> {
        let begin = end - 1;
        let len = self.s.len();
        let mut out = String::new();
        loop {
            let mut next = end;
            while next < len {
                let c = self.s[next];
                if c == '"' || c == '\\' {
                    break;
                }
                if (c as u32) <= 0x1f {
                    return Err(syntax("Invalid control character at", next));
                }
                next += 1;
            }
            if next >= len {
                return Err(syntax("Unterminated string starting at", begin));
            }
            out.extend(&self.s[end..next]);
            if self.s[next] == '"' {
                return Ok((out, next + 1));
            }
            next += 1;
            if next == len {
                return Err(syntax("Unterminated string starting at", begin));
            }
            let c = self.s[next];
            if c != 'u' {
                end = next + 1;
                out.push(match c {
                    '"' => '"',
                    '\\' => '\\',
                    '/' => '/',
                    'b' => '\u{8}',
                    'f' => '\u{c}',
                    'n' => '\n',
                    'r' => '\r',
                    't' => '\t',
                    _ => return Err(syntax("Invalid \\escape", end - 2)),
                });
                continue;
            }
            next += 1;
            end = next + 4;
            if end >= len {
                return Err(syntax("Invalid \\uXXXX escape", next - 1));
            }
            let mut code = self.hex4(next).ok_or_else(|| syntax("Invalid \\uXXXX escape", end - 5))?;
            if (0xD800..=0xDBFF).contains(&code) && end + 6 < len && self.s[end] == '\\' && self.s[end + 1] == 'u' {
                let low = self.hex4(end + 2).ok_or_else(|| syntax("Invalid \\uXXXX escape", end + 1))?;
                if (0xDC00..=0xDFFF).contains(&low) {
                    code = 0x10000 + (((code - 0xD800) << 10) | (low - 0xDC00));
                    end += 6;
                }
            }
            out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
        }
    }

    fn hex4(&self, i: usize) -> Option<u32> {
        let mut v = 0u32;
        for k in i..i + 4 {
            v = (v << 4) | self.at(k)?.to_digit(16)?;
        }
        Some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(s: &str) -> (&'static str, usize) {
        match parse(s.as_bytes()) {
            Err(JsonError::Syntax { msg, pos }) => (msg, pos),
            other => panic!("{s:?}: expected a syntax error, got {other:?}"),
        }
    }

    // Each expectation below is what CPython 3.11's json module answers.
    #[test]
    fn errors_match_cpython() {
        let cases: &[(&str, &str, usize)] = &[
            ("{\"scope\":", "Expecting value", 9),
            ("{\"scope\":\"access\",}", "Expecting property name enclosed in double quotes", 18),
            ("[1,]", "Expecting value", 3),
            ("{\"a\" 1}", "Expecting ':' delimiter", 5),
            ("{\"a\":1 \"b\":2}", "Expecting ',' delimiter", 7),
            ("{\"scope\":\"acc", "Unterminated string starting at", 9),
            ("\"\\x", "Invalid \\escape", 1),
            ("{\"scope\":\"\\u12\"}", "Invalid \\uXXXX escape", 11),
            (" {} x", "Extra data", 4),
            ("nul", "Expecting value", 0),
            ("-", "Expecting value", 0),
            ("01", "Extra data", 1),
            ("1.", "Extra data", 1),
            ("   ", "Expecting value", 3),
            ("{'a':1}", "Expecting property name enclosed in double quotes", 1),
            ("{\"é\":1, \"scope\": \"ü\"", "Expecting ',' delimiter", 20),
            ("[", "Expecting value", 1),
            ("{", "Expecting property name enclosed in double quotes", 1),
            ("{\"a\"", "Expecting ':' delimiter", 4),
            ("\"abc", "Unterminated string starting at", 0),
            ("{\"scope\":\"a\u{1}\"}", "Invalid control character at", 11),
            ("{\"scope\":\"\\ud83d\\uzz\"}", "Invalid \\uXXXX escape", 17),
            ("\"\\u1234", "Invalid \\uXXXX escape", 2),
            ("\u{c}{}", "Expecting value", 0),
            ("-Inf", "Expecting value", 0),
            ("Na", "Expecting value", 0),
        ];
        for (input, msg, pos) in cases {
            assert_eq!(err(input), (*msg, *pos), "{input:?}");
        }
    }

    #[test]
    fn values_match_python() {
        assert_eq!(parse(br#"{"scope":"access","scope":"link"}"#), Ok(json!({"scope": "link"})));
        assert_eq!(parse(b"-0"), Ok(json!(0)));
        assert_eq!(parse(b"1E5"), Ok(json!(100000.0)));
        assert_eq!(parse(b"NaN"), Ok(json!("NaN")));
        assert_eq!(parse(b"1e400"), Ok(json!("Infinity")));
        assert_eq!(parse(br#""\ud83d\ude00""#), Ok(json!("\u{1f600}")));
        let big = parse(b"123456789012345678901234567890").expect("parses");
        assert_eq!(big.to_string(), "123456789012345678901234567890");
        assert_eq!(parse(b"\xef\xbb\xbf{}"), Ok(json!({})));
        let utf16: Vec<u8> = "{\"a\":1}".encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
        assert_eq!(parse(&utf16), Ok(json!({"a": 1})));
    }

    #[test]
    fn undecodable_and_deep_inputs() {
        assert_eq!(parse(b"{\"scope\":\"\xff\"}"), Err(JsonError::Undecodable));
        assert!(matches!(parse(&[b'['; MAX_DEPTH]), Err(JsonError::Syntax { msg: "Expecting value", .. })));
        assert_eq!(parse(&[b'['; MAX_DEPTH + 1]), Err(JsonError::Undecodable));
        assert_eq!(parse(&[b'['; 100_000]), Err(JsonError::Undecodable));
    }
}
