//! Just enough JSON to read the few string values the container runtimes
//! keep on the host (`config.v2.json`, `containers.json`, OCI bundles'
//! `config.json`, runc's `state.json`), and nothing a hostile file can turn
//! into a crash: no serde (two runtime crates), and a general parser would
//! build a tree we never look at.
//!
//! The whole document is checked (RFC 8259 grammar, UTF-8) before a value is
//! believed: a file cut short or rewritten mid-read gives `None`, never the
//! half it had. Nesting deeper than [`MAX_DEPTH`] is refused (the recursion
//! is bounded by it; the runtimes' files nest under ten deep), strings are
//! unescaped exactly (`\uXXXX`, surrogate pairs; a lone surrogate is invalid,
//! as Go's encoder never writes one), and a key repeated where we look is
//! ambiguous, so refused: readers disagree on which copy wins.

/// Deepest nesting accepted; the runtimes' files reach about 8.
pub(crate) const MAX_DEPTH: usize = 64;

/// One step from the document's top to a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    Key(Vec<u8>),
    Index(usize),
}

/// The string at `path` (object keys from the top), unescaped; `None` if
/// the document is not valid JSON, the value is absent or not a string, or
/// the path's key appears twice.
pub(crate) fn string_at(doc: &[u8], path: &[&str]) -> Option<Vec<u8>> {
    let mut found: Option<Vec<u8>> = None;
    let mut twice = false;
    walk(doc, |steps, value| {
        let here = steps.len() == path.len()
            && steps.iter().zip(path).all(|(s, k)| matches!(s, Step::Key(key) if key == k.as_bytes()));
        if here {
            twice |= found.is_some();
            found = Some(value.to_vec());
        }
    })?;
    if twice {
        return None;
    }
    found
}

/// In a top-level array of objects, the element whose string `key` is
/// `want`: the first string of its array `list` (`names[0]` in
/// containers/storage's `containers.json`). `None` if the document is
/// invalid, no element matches, two do, or the match has no such string.
pub(crate) fn first_of_list_where(doc: &[u8], key: &str, want: &[u8], list: &str) -> Option<Vec<u8>> {
    let mut matched: Option<usize> = None;
    let mut ambiguous = false;
    // The first string of `list` of every element seen so far, by index, is
    // kept only for the element that matches: the key may come after the
    // list in an object, so the candidate of the element being read is kept.
    let mut current: Option<(usize, Vec<u8>)> = None;
    let mut kept: Option<Vec<u8>> = None;
    walk(doc, |steps, value| match steps {
        [Step::Index(i), Step::Key(k)] if k == key.as_bytes() && value == want => {
            ambiguous |= matched.is_some();
            matched = Some(*i);
            if let Some((ci, name)) = &current {
                if ci == i {
                    kept = Some(name.clone());
                }
            }
        }
        [Step::Index(i), Step::Key(k), Step::Index(0)] if k == list.as_bytes() => {
            if matched == Some(*i) {
                ambiguous |= kept.is_some();
                kept = Some(value.to_vec());
            } else {
                current = Some((*i, value.to_vec()));
            }
        }
        _ => {}
    })?;
    if ambiguous {
        return None;
    }
    matched.and(kept)
}

/// Walks the whole document, calling `visit` with the path to every string
/// value (keys are not values) and the string unescaped. `None` if the
/// document is not one valid JSON value.
pub(crate) fn walk(doc: &[u8], visit: impl FnMut(&[Step], &[u8])) -> Option<()> {
    std::str::from_utf8(doc).ok()?;
    let mut walker = Walker { s: doc, i: 0, steps: Vec::new(), visit };
    walker.value(0)?;
    walker.ws();
    (walker.i == doc.len()).then_some(())
}

struct Walker<'a, F> {
    s: &'a [u8],
    i: usize,
    steps: Vec<Step>,
    visit: F,
}

impl<F: FnMut(&[Step], &[u8])> Walker<'_, F> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.i += 1;
        Some(b)
    }

    fn eat(&mut self, b: u8) -> Option<()> {
        (self.next()? == b).then_some(())
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn value(&mut self, depth: usize) -> Option<()> {
        self.ws();
        match self.peek()? {
            b'{' => self.object(depth + 1),
            b'[' => self.array(depth + 1),
            b'"' => {
                let s = self.string()?;
                (self.visit)(&self.steps, &s);
                Some(())
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn object(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.eat(b'{')?;
        self.ws();
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(());
        }
        loop {
            self.ws();
            if self.peek()? != b'"' {
                return None;
            }
            let key = self.string()?;
            self.ws();
            self.eat(b':')?;
            self.steps.push(Step::Key(key));
            self.value(depth)?;
            self.steps.pop();
            self.ws();
            match self.next()? {
                b',' => continue,
                b'}' => return Some(()),
                _ => return None,
            }
        }
    }

    fn array(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.eat(b'[')?;
        self.ws();
        if self.peek()? == b']' {
            self.i += 1;
            return Some(());
        }
        let mut index = 0;
        loop {
            self.steps.push(Step::Index(index));
            self.value(depth)?;
            self.steps.pop();
            self.ws();
            match self.next()? {
                b',' => index += 1,
                b']' => return Some(()),
                _ => return None,
            }
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.i.checked_add(word.len())?;
        (self.s.get(self.i..end)? == word).then(|| self.i = end)
    }

    fn digits(&mut self) -> Option<()> {
        let start = self.i;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        (self.i > start).then_some(())
    }

    fn number(&mut self) -> Option<()> {
        if self.peek()? == b'-' {
            self.i += 1;
        }
        if self.peek()? == b'0' {
            self.i += 1;
        } else {
            self.digits()?;
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            self.digits()?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            self.digits()?;
        }
        Some(())
    }

    fn hex4(&mut self) -> Option<u32> {
        let mut v = 0;
        for _ in 0..4 {
            v = v << 4 | char::from(self.next()?).to_digit(16)?;
        }
        Some(v)
    }

    /// A string, opening quote included, unescaped.
    fn string(&mut self) -> Option<Vec<u8>> {
        self.eat(b'"')?;
        let mut out = Vec::new();
        loop {
            // Copy the run up to the next quote, backslash or control byte
            // at once: most strings have no escape.
            let run = self.s[self.i..].iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
            out.extend_from_slice(&self.s[self.i..self.i + run]);
            self.i += run;
            match self.next()? {
                b'"' => return Some(out),
                b'\\' => {}
                _ => return None, // a raw control byte
            }
            let c = match self.next()? {
                b'"' => '"',
                b'\\' => '\\',
                b'/' => '/',
                b'b' => '\u{8}',
                b'f' => '\u{c}',
                b'n' => '\n',
                b'r' => '\r',
                b't' => '\t',
                b'u' => self.unicode_escape()?,
                _ => return None,
            };
            let mut buf = [0; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
    }

    /// The character of a `\u` escape (its `\u` read), with the low half of
    /// a surrogate pair when the first is a high half.
    fn unicode_escape(&mut self) -> Option<char> {
        let first = self.hex4()?;
        match first {
            0xd800..=0xdbff => {
                self.eat(b'\\')?;
                self.eat(b'u')?;
                let low = self.hex4()?;
                if !(0xdc00..=0xdfff).contains(&low) {
                    return None;
                }
                char::from_u32(0x10000 + ((first - 0xd800) << 10) + (low - 0xdc00))
            }
            _ => char::from_u32(first), // None for a lone low half
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(doc: &str, path: &[&str]) -> Option<String> {
        string_at(doc.as_bytes(), path).map(|v| String::from_utf8(v).unwrap())
    }

    #[test]
    fn finds_top_level_and_nested_strings() {
        let doc = r#"{"ID":"abc","Name":"/web","Config":{"Labels":{"a":"b"}},"n":[1,2.5e-3,-0,true,null]}"#;
        assert_eq!(at(doc, &["Name"]).as_deref(), Some("/web"));
        assert_eq!(at(doc, &["Config", "Labels", "a"]).as_deref(), Some("b"));
        assert_eq!(at(doc, &["Config"]), None, "an object is not a string");
        assert_eq!(at(doc, &["n"]), None);
        assert_eq!(at(doc, &["missing"]), None);
        // A key at another depth is another key.
        assert_eq!(at(doc, &["a"]), None);
    }

    #[test]
    fn unescapes_strings_exactly() {
        let doc = r#"{"k":"a\"b\\c\/d\b\f\n\r\t\u0041\u00e9\u20ac\ud83d\ude00\u0000"}"#;
        assert_eq!(string_at(doc.as_bytes(), &["k"]).unwrap(), "a\"b\\c/d\u{8}\u{c}\n\r\tAé€😀\0".as_bytes());
        // Keys are unescaped too before they are compared.
        assert_eq!(at(r#"{"N\u0061me":"x"}"#, &["Name"]).as_deref(), Some("x"));
    }

    #[test]
    fn refuses_malformed_documents() {
        for doc in [
            "",
            "{",
            r#"{"k":"v""#,
            r#"{"k":"v"}}"#,
            r#"{"k":"v",}"#,
            r#"{"k" "v"}"#,
            r#"{k:"v"}"#,
            r#"{"k":'v'}"#,
            r#"{"k":"v"} x"#,
            r#"{"k":"unterminated}"#,
            "{\"k\":\"raw\ncontrol\"}",
            r#"{"k":"\x41"}"#,
            r#"{"k":"\u12"}"#,
            r#"{"k":"\ud800"}"#,
            r#"{"k":"\ud800\u0041"}"#,
            r#"{"k":"\udc00"}"#,
            r#"{"k":"v","n":01}"#,
            r#"{"k":"v","n":1.}"#,
            r#"{"k":"v","n":-}"#,
            r#"{"k":"v","n":1e}"#,
            r#"{"k":"v","t":tru}"#,
            r#"{"k":"v","a":[1,]}"#,
        ] {
            assert_eq!(at(doc, &["k"]), None, "{doc:?}");
        }
        // Invalid UTF-8 anywhere in the file.
        assert_eq!(string_at(b"{\"k\":\"v\",\"x\":\"\xff\"}", &["k"]), None);
    }

    #[test]
    fn a_repeated_key_is_ambiguous() {
        assert_eq!(at(r#"{"Name":"/a","Name":"/b"}"#, &["Name"]), None);
        assert_eq!(at(r#"{"Name":"/a","Name\u0000":"/b"}"#, &["Name"]).as_deref(), Some("/a"));
    }

    #[test]
    fn deep_nesting_is_refused_without_overflow() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(walk(deep.as_bytes(), |_, _| {}).is_none());
        let deep_obj =
            format!("{{\"k\":\"v\",\"x\":{}1{}}}", "{\"a\":".repeat(MAX_DEPTH), "}".repeat(MAX_DEPTH));
        assert_eq!(at(&deep_obj, &["k"]), None);
        let ok = format!("{{\"k\":\"v\",\"x\":{}1{}}}", "[".repeat(MAX_DEPTH - 1), "]".repeat(MAX_DEPTH - 1));
        assert_eq!(at(&ok, &["k"]).as_deref(), Some("v"));
    }

    #[test]
    fn huge_strings_are_read_whole() {
        let big = "x".repeat(4 << 20);
        let doc = format!(r#"{{"k":"{big}"}}"#);
        assert_eq!(string_at(doc.as_bytes(), &["k"]).map(|v| v.len()), Some(big.len()));
    }

    #[test]
    fn finds_names_in_an_array_of_objects() {
        let doc = br#"[{"id":"a","names":["one","alias"]},{"names":["two"],"id":"b"},{"id":"c","names":[]}]"#;
        let get = |id: &[u8]| first_of_list_where(doc, "id", id, "names");
        assert_eq!(get(b"a").as_deref(), Some(&b"one"[..]));
        assert_eq!(get(b"b").as_deref(), Some(&b"two"[..]), "names before id");
        assert_eq!(get(b"c"), None, "no name");
        assert_eq!(get(b"d"), None);
        let twice = br#"[{"id":"a","names":["one"]},{"id":"a","names":["two"]}]"#;
        assert_eq!(first_of_list_where(twice, "id", b"a", "names"), None);
        let wrong_type = br#"[{"id":"a","names":"one"}]"#;
        assert_eq!(first_of_list_where(wrong_type, "id", b"a", "names"), None);
        let nested = br#"[{"x":{"id":"a","names":["deep"]}}]"#;
        assert_eq!(first_of_list_where(nested, "id", b"a", "names"), None);
    }
}
