//! The policy reader, checker and expander on arbitrary bytes: never a panic, and every
//! problem it reports has a position.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = sgwarden::policy::load_str("fuzz.yaml", text) {
        // Rendering the error is part of what users see.
        let _ = e.to_string();
    }
});
