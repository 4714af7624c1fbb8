//! A writer whose output a test reads back.

use std::io::Write;
use std::sync::{Arc, Mutex};

/// A [`Write`] into a shared buffer: clones write to the same bytes, so a test hands one clone
/// to the code under test and reads what it wrote through another.
///
/// ```
/// use std::io::Write;
///
/// let buf = aiplatform_testkit::Buf::default();
/// let mut writer = buf.clone();
/// writer.write_all(b"one\ntwo\n").unwrap();
/// assert_eq!(buf.lines(), ["one", "two"]);
/// buf.clear();
/// assert_eq!(buf.text(), "");
/// ```
#[derive(Debug, Clone, Default)]
pub struct Buf(Arc<Mutex<Vec<u8>>>);

impl Buf {
    /// What was written, as UTF-8 (panics otherwise).
    pub fn text(&self) -> String {
        String::from_utf8(self.bytes()).expect("the output is UTF-8")
    }

    /// What was written, line by line.
    pub fn lines(&self) -> Vec<String> {
        self.text().lines().map(str::to_owned).collect()
    }

    /// What was written, as bytes.
    pub fn bytes(&self) -> Vec<u8> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Forgets what was written.
    pub fn clear(&self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
