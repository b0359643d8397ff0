//! Which kernel function to put a kprobe on. Compilers sometimes rename a
//! function they specialised (`tcp_v4_connect.isra.0`, `.constprop.0`,
//! `.cold` for split-off cold paths); a kprobe must name the symbol the
//! kernel really has, so look it up in /proc/kallsyms (the names are there
//! even when kptr_restrict hides the addresses).

use std::io::{self, BufRead, BufReader};

pub const KALLSYMS: &str = "/proc/kallsyms";

/// The symbol to probe for function `name` among kallsyms lines
/// ("ffffffff81a2b3c0 T tcp_v4_connect" or "... t name.isra.0 [module]"):
/// the exact text symbol if present, else a compiler-suffixed one (never the
/// `.cold` part, which is not the function's entry).
pub fn find_function<'a>(lines: impl Iterator<Item = &'a str>, name: &str) -> Option<String> {
    let mut suffixed = None;
    for line in lines {
        let mut fields = line.split_ascii_whitespace();
        let (Some(_addr), Some(kind), Some(symbol)) = (fields.next(), fields.next(), fields.next()) else {
            continue;
        };
        if !matches!(kind, "T" | "t") {
            continue;
        }
        if symbol == name {
            return Some(symbol.to_owned());
        }
        if suffixed.is_none()
            && symbol.strip_prefix(name).is_some_and(|rest| rest.starts_with('.') && !rest.contains(".cold"))
        {
            suffixed = Some(symbol.to_owned());
        }
    }
    suffixed
}

/// Looks up several functions in one pass over /proc/kallsyms (it is large:
/// ~200k lines); returns the symbol found for each, in order.
pub fn find_functions(names: &[&str]) -> io::Result<Vec<Option<String>>> {
    let file = std::fs::File::open(KALLSYMS)?;
    let mut exact: Vec<Option<String>> = vec![None; names.len()];
    let mut suffixed: Vec<Option<String>> = vec![None; names.len()];
    for line in BufReader::new(file).lines() {
        let line = line?;
        for (i, name) in names.iter().enumerate() {
            if exact[i].is_none() && line.contains(name) {
                match find_function(std::iter::once(line.as_str()), name) {
                    Some(symbol) if symbol == *name => exact[i] = Some(symbol),
                    Some(symbol) if suffixed[i].is_none() => suffixed[i] = Some(symbol),
                    _ => {}
                }
            }
        }
    }
    Ok(exact.into_iter().zip(suffixed).map(|(e, s)| e.or(s)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_beats_suffixed_and_cold_is_never_chosen() {
        let text = "ffffffff81000000 t tcp_v4_connect.cold\n\
                    ffffffff81000010 t tcp_v4_connect.isra.0\n\
                    ffffffff81000020 T tcp_v4_connect\n\
                    0000000000000000 T tcp_v6_connect.constprop.0\t[ipv6]\n\
                    ffffffff81000040 d tcp_v6_connect_data\n";
        assert_eq!(find_function(text.lines(), "tcp_v4_connect").as_deref(), Some("tcp_v4_connect"));
        assert_eq!(
            find_function(text.lines(), "tcp_v6_connect").as_deref(),
            Some("tcp_v6_connect.constprop.0")
        );
        let only_suffixed = "ffffffff81000010 t tcp_v4_connect.isra.0\n";
        assert_eq!(
            find_function(only_suffixed.lines(), "tcp_v4_connect").as_deref(),
            Some("tcp_v4_connect.isra.0")
        );
        assert_eq!(find_function("x T tcp_v4_connect_x\n".lines(), "tcp_v4_connect"), None);
        assert_eq!(find_function("garbage\n\n".lines(), "tcp_v4_connect"), None);
    }

    #[test]
    fn this_kernel_has_tcp_v4_connect() {
        let found = find_functions(&["tcp_v4_connect", "no_such_function_here"]).unwrap();
        assert_eq!(found[0].as_deref(), Some("tcp_v4_connect"));
        assert_eq!(found[1], None);
    }
}
