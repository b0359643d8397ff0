//! The kernel's BTF for this run, from where the plan's overrides say
//! (/sys/kernel/btf/vmlinux, none, or a file), read at most once:
//! --mntnsmap, -d and either attach path may each need it.

use crate::btf::Btf;
use crate::escape::escaped;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Where type information comes from (TCPCONNECT_BTF).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum BtfSource {
    /// /sys/kernel/btf/vmlinux.
    #[default]
    Vmlinux,
    /// TCPCONNECT_BTF=off: as on a kernel without BTF.
    Off,
    /// TCPCONNECT_BTF=/path: this file instead (e.g. a damaged copy).
    File(PathBuf),
}

/// The kernel's type information, or why there is none to use.
fn load(source: &BtfSource) -> Result<Btf, String> {
    match source {
        BtfSource::Vmlinux => Btf::load_vmlinux().map_err(|e| e.to_string()),
        BtfSource::Off => Err("disabled by TCPCONNECT_BTF=off".into()),
        BtfSource::File(path) => {
            let shown = escaped(&path.display().to_string()).into_owned();
            read_btf_file(path)
                .map_err(|e| format!("{shown}: {e}"))
                .and_then(|bytes| Btf::parse(&bytes).map_err(|e| format!("{e} (read from {shown})")))
        }
    }
}

/// The most a BTF file may hold: a distribution kernel's vmlinux BTF is 5
/// to 10 MB.
const MAX_BTF_FILE: u64 = 64 << 20;

/// A BTF file's bytes: a regular file of at most MAX_BTF_FILE bytes, opened
/// without blocking (a FIFO or a device never stalls or floods the run).
fn read_btf_file(path: &Path) -> Result<Vec<u8>, String> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| e.to_string())?;
    let metadata = file.metadata().map_err(|e| e.to_string())?;
    if !metadata.is_file() {
        return Err("not a regular file".to_owned());
    }
    if metadata.len() > MAX_BTF_FILE {
        return Err(format!("{} bytes, more than a BTF file holds ({MAX_BTF_FILE} at most)", metadata.len()));
    }
    let mut bytes = Vec::new();
    // The file may grow after the check: read no more than the limit.
    file.take(MAX_BTF_FILE + 1).read_to_end(&mut bytes).map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_BTF_FILE {
        return Err(format!("more than a BTF file holds ({MAX_BTF_FILE} bytes at most)"));
    }
    Ok(bytes)
}

/// The BTF of a run, loaded on first use.
pub(crate) struct LazyBtf {
    source: BtfSource,
    btf: std::cell::OnceCell<Result<Btf, String>>,
}

impl LazyBtf {
    pub(crate) fn new(source: &BtfSource) -> LazyBtf {
        LazyBtf { source: source.clone(), btf: std::cell::OnceCell::new() }
    }

    /// The BTF, or why there is none to use (the same answer every call).
    pub(crate) fn get(&self) -> Result<&Btf, String> {
        self.btf.get_or_init(|| load(&self.source)).as_ref().map_err(Clone::clone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory of this test's own under the temporary directory.
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tcpconnect-btf-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        dir
    }

    #[test]
    fn only_a_regular_file_of_bounded_size_is_read() {
        // A device would be read until memory runs out, a FIFO would block.
        assert_eq!(read_btf_file(Path::new("/dev/zero")).unwrap_err(), "not a regular file");
        let dir = scratch("fifo");
        let fifo = dir.join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|s| s.success()) {
            assert_eq!(read_btf_file(&fifo).unwrap_err(), "not a regular file");
        }
        let big = dir.join("big");
        std::fs::File::create(&big).unwrap().set_len(MAX_BTF_FILE + 1).unwrap();
        assert!(read_btf_file(&big).unwrap_err().contains("more than a BTF file holds"));
        let small = dir.join("small");
        std::fs::write(&small, b"bytes").unwrap();
        assert_eq!(read_btf_file(&small).unwrap(), b"bytes");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
