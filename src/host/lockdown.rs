//! Kernel lockdown (/sys/kernel/security/lockdown). In confidentiality mode
//! the kernel hides tracefs (LOCKDOWN_TRACEFS) and forbids kprobes
//! (LOCKDOWN_KPROBES) and BPF reads of kernel memory
//! (LOCKDOWN_BPF_READ_KERNEL): no way in is left, so say so before anything
//! fails with a less telling error. Integrity mode allows all of it.

const LOCKDOWN: &str = "/sys/kernel/security/lockdown";

/// The selected mode in "none integrity [confidentiality]".
fn selected_mode(text: &str) -> Option<&str> {
    text.split_ascii_whitespace().find_map(|w| w.strip_prefix('[')?.strip_suffix(']'))
}

/// True when this kernel is locked down in confidentiality mode (as far as
/// we can tell: securityfs may not be mounted).
pub fn forbids_tracing() -> bool {
    std::fs::read_to_string(LOCKDOWN).is_ok_and(|text| selected_mode(&text) == Some("confidentiality"))
}

#[cfg(test)]
mod tests {
    use super::selected_mode;

    #[test]
    fn the_mode_is_the_bracketed_word() {
        assert_eq!(selected_mode("none integrity [confidentiality]\n"), Some("confidentiality"));
        assert_eq!(selected_mode("[none] integrity confidentiality\n"), Some("none"));
        assert_eq!(selected_mode(""), None);
    }
}
