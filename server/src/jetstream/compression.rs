//! `compress=true`: every message is a zstd frame made with Jetstream's custom dictionary.

use std::io::Read;
use std::sync::LazyLock;

use zstd::dict::{DecoderDictionary, EncoderDictionary};

/// Jetstream v1's dictionary (id 1612007021), embedded so the binary needs no files.
pub static DICTIONARY: &[u8] = include_bytes!("../../assets/jetstream-zstd-dictionary");

static DECODER: LazyLock<DecoderDictionary<'static>> = LazyLock::new(|| DecoderDictionary::copy(DICTIONARY));
static ENCODER: LazyLock<EncoderDictionary<'static>> = LazyLock::new(|| EncoderDictionary::copy(DICTIONARY, 3));

/// Why a compressed message could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DecompressError {
    /// The frame is corrupt or made with another dictionary.
    #[error("not a zstd frame made with Jetstream's dictionary: {0}")]
    Corrupt(std::io::Error),
    /// The message would exceed the size limit once decompressed.
    #[error("message exceeds {0} bytes once decompressed")]
    TooLarge(usize),
}

/// Decompresses one message, refusing to inflate past `max_len` bytes (a zstd bomb
/// must not exhaust memory).
pub fn decompress(frame: &[u8], max_len: usize) -> Result<Vec<u8>, DecompressError> {
    let decoder =
        zstd::stream::read::Decoder::with_prepared_dictionary(frame, &DECODER).map_err(DecompressError::Corrupt)?;
    let mut out = Vec::with_capacity(frame.len().saturating_mul(4).min(max_len));
    let read = decoder.take(max_len as u64 + 1).read_to_end(&mut out).map_err(DecompressError::Corrupt)?;
    if read > max_len {
        return Err(DecompressError::TooLarge(max_len));
    }
    Ok(out)
}

/// Compresses one message the way Jetstream does (used by the replay server). One
/// compression context per thread: building one per message costs 5× the compression.
pub fn compress(message: &[u8]) -> std::io::Result<Vec<u8>> {
    thread_local! {
        static COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> = const { std::cell::RefCell::new(None) };
    }
    COMPRESSOR.with_borrow_mut(|slot| {
        let compressor = match slot {
            Some(compressor) => compressor,
            None => slot.insert(zstd::bulk::Compressor::with_prepared_dictionary(&ENCODER)?),
        };
        compressor.compress(message)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_a_message_and_limits_inflation() {
        let message = br#"{"did":"did:plc:abc","time_us":1,"kind":"identity","identity":{"did":"did:plc:abc"}}"#;
        let frame = compress(message).expect("compress");
        assert_eq!(decompress(&frame, 1024).expect("decompress"), message);
        assert!(matches!(decompress(&frame, 10), Err(DecompressError::TooLarge(10))));
        assert!(matches!(decompress(b"not zstd", 1024), Err(DecompressError::Corrupt(_))));
    }
}
