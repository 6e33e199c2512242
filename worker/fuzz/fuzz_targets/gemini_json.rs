#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    worker_fuzz::exercise(worker::normalize::Protocol::GeminiJson, data);
});
