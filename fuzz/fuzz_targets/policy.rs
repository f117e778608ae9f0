//! The policy reader, checker and expander on arbitrary bytes: never a panic, and every
//! problem it reports has a position.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Bytes as a policy file is read: not UTF-8, a NUL or a BOM are the reader's to judge.
    let loaded = sgwarden::policy::Document::from_bytes("fuzz.yaml", data.to_vec())
        .and_then(|doc| sgwarden::policy::load("fuzz.yaml", &[doc]));
    if let Err(e) = loaded {
        // Rendering the error is part of what users see.
        let _ = e.to_string();
    }
});
