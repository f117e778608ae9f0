//! The bounds on everything sgwarden reads from outside: sizes, depths and counts. Every
//! input is hostile until bounded; each limit here is documented in docs/security.md
//! ("Limits"), and each error that enforces one names the limit and where it was hit.

use std::io::Read;
use std::path::Path;

/// The stack of the threads that call AWS (the Lambda's runtime, `sgwarden invoke`).
/// Security Hub's SDK types are large: an ASFF finding's resource details hold some 150
/// optional structs, which an unoptimized build keeps on the stack several times over
/// while deserializing (more than 8 MiB for three findings). Reserved, not resident: a
/// thread's memory is the pages it touches.
pub const THREAD_STACK_BYTES: usize = 64 << 20;

/// Runs `f` on a thread with a [`THREAD_STACK_BYTES`] stack and returns what it returns
/// (a panic in it goes on in the caller).
pub fn on_large_stack<T: Send>(f: impl FnOnce() -> T + Send) -> std::io::Result<T> {
    std::thread::scope(|s| {
        let handle = std::thread::Builder::new()
            .name("sgwarden".into())
            .stack_size(THREAD_STACK_BYTES)
            .spawn_scoped(s, f)?;
        Ok(handle
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
    })
}

/// One policy file or S3 policy object.
pub const POLICY_FILE_BYTES: u64 = 8 << 20;
/// All the files of one policy together.
pub const POLICY_TOTAL_BYTES: u64 = 64 << 20;
/// Files in one policy directory or S3 prefix.
pub const POLICY_FILES: usize = 5_000;
/// Directory levels below a policy directory.
pub const POLICY_DIR_DEPTH: usize = 16;
/// One `--snapshot` file (describe-security-groups output).
pub const SNAPSHOT_BYTES: u64 = 256 << 20;
/// One `--event` file; Lambda itself takes at most 6 MB.
pub const EVENT_BYTES: u64 = 6 << 20;
/// One file given to `import`.
pub const IMPORT_BYTES: u64 = 32 << 20;
/// How many variables deep a chain of `@` references may go.
pub const VARIABLE_DEPTH: usize = 32;
/// Distinct peers one variable may hold.
pub const VARIABLE_PEERS: usize = 10_000;
/// Peers all variable resolution may copy in one policy, references included.
pub const VARIABLE_PEERS_COPIED: usize = 8_000_000;
/// Atomic rules one group entry may expand to (EC2 allows about a thousand per group).
pub const RULES_PER_GROUP: usize = 10_000;
/// Atomic rules a whole policy may expand to.
pub const RULES_PER_POLICY: usize = 2_000_000;
/// Guardrails in one policy (each is checked on every group it selects).
pub const GUARDRAILS: usize = 200;
/// One glob of a selector (a GroupName is at most 255 characters, a tag value 256).
pub const GLOB_BYTES: usize = 1_024;

/// Why an input could not be read within its bounds.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot read {what} `{path}`: {source}")]
    Io {
        what: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("{what} `{path}` is not a regular file ({kind}); sgwarden reads only regular files")]
    NotAFile {
        what: &'static str,
        path: String,
        kind: &'static str,
    },
    #[error(
        "{what} `{path}` is larger than the limit of {} (see docs/security.md, \"Limits\")",
        bytes_text(*limit)
    )]
    TooLarge {
        what: &'static str,
        path: String,
        limit: u64,
    },
}

/// Cuts `s` to at most `max` bytes (on a character boundary), marking the cut with `…`;
/// true when something was cut. For text from outside that lands in a report.
pub fn clip(s: &mut String, max: usize) -> bool {
    if s.len() <= max {
        return false;
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    s.push('…');
    true
}

/// `8 MiB`, `6 MiB`, `512 KiB`, `100 bytes`.
pub fn bytes_text(n: u64) -> String {
    match n {
        _ if n >= 1 << 20 && n.is_multiple_of(1 << 20) => format!("{} MiB", n >> 20),
        _ if n >= 1 << 10 && n.is_multiple_of(1 << 10) => format!("{} KiB", n >> 10),
        _ => format!("{n} bytes"),
    }
}

fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    "not a regular file"
}

/// Reads a regular file of at most `limit` bytes. A FIFO, a device or a directory is an
/// error before anything is read (a FIFO would block, `/dev/zero` never ends), and a file
/// that grows past the limit while being read is an error too.
pub fn read_file(path: &Path, what: &'static str, limit: u64) -> Result<Vec<u8>, InputError> {
    let shown = path.display().to_string();
    let io = |source| InputError::Io {
        what,
        path: shown.clone(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(InputError::NotAFile {
            what,
            path: shown,
            kind: file_kind(&meta),
        });
    }
    let too_large = || InputError::TooLarge {
        what,
        path: shown.clone(),
        limit,
    };
    if meta.len() > limit {
        return Err(too_large());
    }
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(bytes)
}

/// [`read_file`] as UTF-8 text (a leading byte order mark dropped); invalid UTF-8 is an
/// error naming its line and column.
pub fn read_text(path: &Path, what: &'static str, limit: u64) -> Result<String, String> {
    let bytes = read_file(path, what, limit).map_err(|e| e.to_string())?;
    crate::policy::yaml::decode(bytes)
        .map_err(|e| format!("{}:{}:{}: {}", path.display(), e.line, e.col, e.message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(bytes_text(POLICY_FILE_BYTES), "8 MiB");
        assert_eq!(bytes_text(2048), "2 KiB");
        assert_eq!(bytes_text(100), "100 bytes");
    }

    #[test]
    fn oversized_files_and_directories_are_refused_before_reading() {
        let dir = std::env::temp_dir().join(format!("sgwarden-limits-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("big.json");
        std::fs::write(&f, vec![b' '; 2000]).unwrap();
        let e = read_file(&f, "snapshot", 1000).unwrap_err().to_string();
        assert!(e.contains("larger than the limit of 1000 bytes"), "{e}");
        assert_eq!(read_file(&f, "snapshot", 2000).unwrap().len(), 2000);
        let e = read_file(&dir, "snapshot", 1000).unwrap_err().to_string();
        assert!(e.contains("not a regular file (a directory)"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn devices_are_refused_without_reading() {
        let e = read_file(Path::new("/dev/zero"), "policy file", 1000)
            .unwrap_err()
            .to_string();
        assert!(e.contains("(a device)"), "{e}");
    }

    #[test]
    fn invalid_utf8_is_named_with_its_position() {
        let dir = std::env::temp_dir().join(format!("sgwarden-utf8-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("p.yaml");
        std::fs::write(&f, b"version: 1\ngroups: {w\xffeb: {}}\n").unwrap();
        let e = read_text(&f, "policy file", 1000).unwrap_err();
        assert!(
            e.ends_with("p.yaml:2:11: not UTF-8 text (byte 0xFF at offset 21)"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
