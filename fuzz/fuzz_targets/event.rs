//! The Lambda event reader on arbitrary JSON: never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(event) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let role = Some("arn:aws:iam::111122223333:role/sgwarden-function-role");
    if let Ok(e) = sgwarden::trigger::parse(&event, role) {
        let _ = e.info();
    }
});
