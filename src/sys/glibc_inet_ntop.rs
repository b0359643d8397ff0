//! Test oracle: the C library's inet_ntop, which `inet` must match byte for
//! byte (bcc prints addresses through Python's socket.inet_ntop, i.e. glibc's).
//! Only compiled for unit tests on glibc targets: musl formats some
//! addresses differently and is not the reference.

// The libc crate does not bind inet_ntop; glibc exports it (POSIX).
extern "C" {
    fn inet_ntop(
        af: libc::c_int,
        src: *const libc::c_void,
        dst: *mut libc::c_char,
        size: libc::socklen_t,
    ) -> *const libc::c_char;
}

/// glibc's text for `src` (4 bytes for AF_INET, 16 for AF_INET6).
pub fn glibc_inet_ntop(family: libc::c_int, src: &[u8]) -> String {
    let needed = if family == libc::AF_INET { 4 } else { 16 };
    assert_eq!(src.len(), needed, "address length for family {family}");
    let mut buf = [0 as libc::c_char; 64];
    // SAFETY: `src` holds exactly the 4 (AF_INET) or 16 (AF_INET6) bytes the
    // family requires (checked above), `buf` is writable for `buf.len()` bytes,
    // more than INET6_ADDRSTRLEN, and inet_ntop NUL-terminates on success.
    let p = unsafe { inet_ntop(family, src.as_ptr().cast(), buf.as_mut_ptr(), buf.len() as libc::socklen_t) };
    assert!(!p.is_null(), "inet_ntop failed");
    // SAFETY: inet_ntop succeeded, so `buf` holds a NUL-terminated string.
    let text = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
    text.to_str().expect("inet_ntop writes ASCII").to_owned()
}
