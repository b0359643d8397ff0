//! Parsing a tracepoint's `format` file, the stable description of its
//! record layout:
//!
//! ```text
//! name: inet_sock_set_state
//! ID: 2287
//! format:
//!     field:unsigned short common_type;    offset:0;    size:2;    signed:0;
//!     field:__u8 saddr[4];    offset:32;    size:4;    signed:0;
//! ```

/// One field of a tracepoint record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// The C declaration's name, without array brackets.
    pub name: String,
    pub offset: u16,
    pub size: u16,
    /// `signed:1`: a narrower read than the program's would lose the sign.
    pub signed: bool,
}

/// The fields of a format file, in order. Lines that are not field lines
/// (name, ID, print fmt, blank) are ignored; a field line that does not parse
/// is skipped rather than failing, since only the fields we need matter and
/// the caller reports those that are missing.
pub fn parse_fields(text: &str) -> Vec<Field> {
    text.lines().filter_map(parse_field_line).collect()
}

fn parse_field_line(line: &str) -> Option<Field> {
    let rest = line.trim_start().strip_prefix("field:")?;
    let mut decl = None;
    let mut offset = None;
    let mut size = None;
    // Taken as signed when the line does not say: nothing is then narrowed.
    let mut signed = true;
    for part in rest.split(';') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("offset:") {
            offset = v.trim().parse::<u16>().ok();
        } else if let Some(v) = part.strip_prefix("size:") {
            size = v.trim().parse::<u16>().ok();
        } else if let Some(v) = part.strip_prefix("signed:") {
            signed = v.trim() != "0";
        } else if decl.is_none() && !part.is_empty() {
            decl = Some(part);
        }
    }
    Some(Field { name: declared_name(decl?)?.to_string(), offset: offset?, size: size?, signed })
}

/// `const void * skaddr` → `skaddr`; `__u8 saddr[4]` → `saddr`;
/// `__data_loc char[] name` → `name`.
fn declared_name(decl: &str) -> Option<&str> {
    let last = decl.rsplit(|c: char| c.is_whitespace() || c == '*').next()?;
    let name = last.split('[').next()?;
    let valid = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    valid.then_some(name)
}

/// The field called `name`.
pub fn find<'a>(fields: &'a [Field], name: &str) -> Option<&'a Field> {
    fields.iter().find(|f| f.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Linux 6.x, with `family`.
    const FORMAT_6X: &str = "name: inet_sock_set_state\nID: 2287\nformat:\n\
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;\n\
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;\n\
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\
\n\
\tfield:const void * skaddr;\toffset:8;\tsize:8;\tsigned:0;\n\
\tfield:int oldstate;\toffset:16;\tsize:4;\tsigned:1;\n\
\tfield:int newstate;\toffset:20;\tsize:4;\tsigned:1;\n\
\tfield:__u16 sport;\toffset:24;\tsize:2;\tsigned:0;\n\
\tfield:__u16 dport;\toffset:26;\tsize:2;\tsigned:0;\n\
\tfield:__u16 family;\toffset:28;\tsize:2;\tsigned:0;\n\
\tfield:__u16 protocol;\toffset:30;\tsize:2;\tsigned:0;\n\
\tfield:__u8 saddr[4];\toffset:32;\tsize:4;\tsigned:0;\n\
\tfield:__u8 daddr[4];\toffset:36;\tsize:4;\tsigned:0;\n\
\tfield:__u8 saddr_v6[16];\toffset:40;\tsize:16;\tsigned:0;\n\
\tfield:__u8 daddr_v6[16];\toffset:56;\tsize:16;\tsigned:0;\n\
\n\
print fmt: \"family=%s protocol=%s sport=%hu\", REC->family\n";

    /// Read from a real Linux 4.19.108 (the layout of 4.16 to 5.5): a
    /// one-byte `protocol`, so the address fields sit on odd offsets.
    const FORMAT_4_19: &str =
        include_str!("../../tests/fixtures/tracefs/linux-4.19.108-x86_64/sock.inet_sock_set_state.format");

    #[test]
    fn parses_the_current_layout() {
        let fields = parse_fields(FORMAT_6X);
        assert_eq!(fields.len(), 15);
        assert_eq!(
            find(&fields, "skaddr"),
            Some(&Field { name: "skaddr".into(), offset: 8, size: 8, signed: false })
        );
        assert_eq!(find(&fields, "family").map(|f| f.offset), Some(28));
        assert_eq!(
            find(&fields, "saddr"),
            Some(&Field { name: "saddr".into(), offset: 32, size: 4, signed: false })
        );
        assert_eq!(
            find(&fields, "daddr_v6"),
            Some(&Field { name: "daddr_v6".into(), offset: 56, size: 16, signed: false })
        );
        assert_eq!(find(&fields, "common_pid").map(|f| (f.offset, f.signed)), Some((4, true)));
    }

    #[test]
    fn parses_the_one_byte_protocol_of_4_19() {
        let fields = parse_fields(FORMAT_4_19);
        let protocol = find(&fields, "protocol").unwrap();
        assert_eq!((protocol.offset, protocol.size, protocol.signed), (30, 1, false));
        assert_eq!(find(&fields, "family").map(|f| (f.offset, f.size)), Some((28, 2)));
        assert_eq!(find(&fields, "saddr").map(|f| f.offset), Some(31));
        assert_eq!(find(&fields, "daddr_v6").map(|f| (f.offset, f.size)), Some((55, 16)));
        assert_eq!(find(&fields, "oldstate").map(|f| (f.size, f.signed)), Some((4, true)));
    }

    #[test]
    fn odd_lines_are_skipped_not_fatal() {
        let text = "field:;\n\tfield:int x;\toffset:abc;\tsize:4;\n\tfield:__data_loc char[] name;\toffset:8;\tsize:4;\tsigned:1;\n\tfield:int ok;\toffset:12;\tsize:4;\tsigned:1;\n";
        let fields = parse_fields(text);
        assert_eq!(
            fields,
            vec![
                Field { name: "name".into(), offset: 8, size: 4, signed: true },
                Field { name: "ok".into(), offset: 12, size: 4, signed: true }
            ]
        );
        assert!(parse_fields("").is_empty());
    }
}
