//! Request body compression: gzip, deflate (zlib), snappy block format (Prometheus remote
//! write), zstd.

use std::io::{self, Read, Write};

/// The deflate level of gzip and deflate bodies: 2, the faster of zlib's two "fast" levels.
/// On OTLP bodies it compresses about twice as fast as level 3 for bodies 3 % larger (10k
/// series, zlib-rs: 0.79 ms for 53.5 kB against 1.51 ms for 52.1 kB; level 1 is faster still
/// but 36 % larger), and push bodies are sent every few seconds, so CPU matters more than the
/// last percent.
const DEFLATE_LEVEL: flate2::Compression = flate2::Compression::new(2);

/// How a request body is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Compression {
    /// Sent as is.
    #[default]
    None,
    /// gzip (`Content-Encoding: gzip`), at a fast level (2): bodies are sent every few seconds.
    Gzip,
    /// Snappy's block format (not its framing format), as Prometheus remote write requires
    /// (`Content-Encoding: snappy`).
    Snappy,
    /// HTTP's `deflate` coding (`Content-Encoding: deflate`): the zlib format (RFC 1950), a
    /// header and a checksum around raw deflate, as HTTP defines it and Datadog's intakes
    /// read it. Same fast level as gzip.
    Deflate,
    /// zstd (`Content-Encoding: zstd`), where a receiver offers it. Needs the `zstd` feature.
    #[cfg(feature = "zstd")]
    Zstd,
}

impl Compression {
    /// The `Content-Encoding` value, if any.
    pub fn content_encoding(self) -> Option<&'static str> {
        match self {
            Compression::None => None,
            Compression::Gzip => Some("gzip"),
            Compression::Snappy => Some("snappy"),
            Compression::Deflate => Some("deflate"),
            #[cfg(feature = "zstd")]
            Compression::Zstd => Some("zstd"),
        }
    }

    /// Compresses `input` into `out` (cleared first).
    pub fn compress(self, input: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        out.clear();
        match self {
            Compression::None => out.extend_from_slice(input),
            Compression::Gzip => {
                let mut enc = flate2::write::GzEncoder::new(std::mem::take(out), DEFLATE_LEVEL);
                enc.write_all(input)?;
                *out = enc.finish()?;
            }
            Compression::Snappy => {
                out.resize(snap::raw::max_compress_len(input.len()), 0);
                let n = snap::raw::Encoder::new()
                    .compress(input, out)
                    .map_err(io::Error::other)?;
                out.truncate(n);
            }
            Compression::Deflate => {
                let mut enc = flate2::write::ZlibEncoder::new(std::mem::take(out), DEFLATE_LEVEL);
                enc.write_all(input)?;
                *out = enc.finish()?;
            }
            #[cfg(feature = "zstd")]
            Compression::Zstd => {
                *out = zstd::bulk::compress(input, 3)?;
            }
        }
        Ok(())
    }

    /// Decompresses `input` into `out` (cleared first): to split a batch a receiver refused as
    /// too large, and in tests.
    pub fn decompress(self, input: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        out.clear();
        match self {
            Compression::None => out.extend_from_slice(input),
            Compression::Gzip => {
                flate2::read::GzDecoder::new(input).read_to_end(out)?;
            }
            Compression::Snappy => {
                let len = snap::raw::decompress_len(input).map_err(io::Error::other)?;
                out.resize(len, 0);
                let n = snap::raw::Decoder::new()
                    .decompress(input, out)
                    .map_err(io::Error::other)?;
                out.truncate(n);
            }
            Compression::Deflate => {
                flate2::read::ZlibDecoder::new(input).read_to_end(out)?;
            }
            #[cfg(feature = "zstd")]
            Compression::Zstd => {
                zstd::stream::copy_decode(input, &mut *out)?;
            }
        }
        Ok(())
    }
}

/// A compressor that keeps its working memory between bodies (snappy's hash table, gzip's
/// and zlib's deflate state), so a warm pipeline compresses without allocating.
pub struct Compressor {
    kind: Compression,
    snappy: snap::raw::Encoder,
    deflate: Option<flate2::Compress>,
    scratch: Vec<u8>,
    /// Parts joined, for the compressors that read one slice (snappy, zstd).
    joined: Vec<u8>,
}

impl std::fmt::Debug for Compressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compressor")
            .field("kind", &self.kind)
            .finish()
    }
}

impl Compressor {
    /// A compressor for `kind`.
    pub fn new(kind: Compression) -> Compressor {
        Compressor {
            kind,
            snappy: snap::raw::Encoder::new(),
            deflate: None,
            scratch: Vec::new(),
            joined: Vec::new(),
        }
    }

    /// What it produces.
    pub fn kind(&self) -> Compression {
        self.kind
    }

    /// Compresses `input` into a new vector of exactly the compressed size: what a queued
    /// batch holds is what it counts (compressing straight into a vector would leave it the
    /// capacity of the worst case, several times the result).
    pub fn compress_to_vec(&mut self, input: &[u8]) -> io::Result<Vec<u8>> {
        if self.kind == Compression::None {
            return Ok(input.to_vec());
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        let result = self.compress(input, &mut scratch);
        let out = scratch.as_slice().to_vec();
        self.scratch = scratch;
        result.map(|()| out)
    }

    /// Compresses the concatenation of `parts` (a request's envelope around its records) into
    /// a new vector of exactly the compressed size, as [`Compressor::compress_to_vec`] would
    /// compress them joined: gzip and deflate read the parts where they are, and an
    /// uncompressed body is copied once, instead of joining them into one buffer first.
    pub fn compress_parts_to_vec(&mut self, parts: &[&[u8]]) -> io::Result<Vec<u8>> {
        let total = parts.iter().map(|p| p.len()).sum::<usize>();
        match self.kind {
            Compression::None => {
                let mut out = Vec::with_capacity(total);
                for p in parts {
                    out.extend_from_slice(p);
                }
                Ok(out)
            }
            Compression::Gzip | Compression::Deflate => {
                let mut scratch = std::mem::take(&mut self.scratch);
                scratch.clear();
                let result = deflate_parts(self.deflate(), parts, total, &mut scratch);
                let out = scratch.as_slice().to_vec();
                self.scratch = scratch;
                result.map(|()| out)
            }
            _ => {
                let mut joined = std::mem::take(&mut self.joined);
                joined.clear();
                joined.reserve(total);
                for p in parts {
                    joined.extend_from_slice(p);
                }
                let result = self.compress_to_vec(&joined);
                self.joined = joined;
                result
            }
        }
    }

    /// The reused deflate state, reset, with the gzip or zlib wrapper of `self.kind`: the
    /// wrapper's checksum is computed as the input is copied into the window.
    fn deflate(&mut self) -> &mut flate2::Compress {
        let gzip = self.kind == Compression::Gzip;
        let deflate = self.deflate.get_or_insert_with(|| {
            let level = DEFLATE_LEVEL;
            if gzip {
                flate2::Compress::new_gzip(level, 15)
            } else {
                // The zlib header and Adler-32 trailer, as HTTP's `deflate` wants.
                flate2::Compress::new(level, true)
            }
        });
        deflate.reset();
        deflate
    }

    /// Compresses `input` into `out` (cleared first).
    pub fn compress(&mut self, input: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        match self.kind {
            Compression::Snappy => {
                out.clear();
                out.resize(snap::raw::max_compress_len(input.len()), 0);
                let n = self.snappy.compress(input, out).map_err(io::Error::other)?;
                out.truncate(n);
                Ok(())
            }
            Compression::Gzip | Compression::Deflate => {
                out.clear();
                deflate_parts(self.deflate(), &[input], input.len(), out)
            }
            other => other.compress(input, out),
        }
    }
}

/// Appends `parts`, in order and compressed by `deflate` to the end of its stream (`total`
/// bytes in all), to `out`.
fn deflate_parts(
    deflate: &mut flate2::Compress,
    parts: &[&[u8]],
    total: usize,
    out: &mut Vec<u8>,
) -> io::Result<()> {
    out.reserve(total / 2 + 64);
    let mut step = |input: &[u8], flush, out: &mut Vec<u8>| -> io::Result<(usize, bool)> {
        if out.capacity() - out.len() < 64 {
            out.reserve(out.capacity().max(1024));
        }
        let before = deflate.total_in();
        let status = deflate
            .compress_vec(input, out, flush)
            .map_err(io::Error::other)?;
        Ok((
            (deflate.total_in() - before) as usize,
            status == flate2::Status::StreamEnd,
        ))
    };
    for part in parts {
        let mut consumed = 0;
        while consumed < part.len() {
            consumed += step(&part[consumed..], flate2::FlushCompress::None, out)?.0;
        }
    }
    while !step(&[], flate2::FlushCompress::Finish, out)?.1 {}
    Ok(())
}

impl std::str::FromStr for Compression {
    type Err = String;

    /// `none` (or `identity`), `gzip`, `deflate`, `snappy`, `zstd`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "none" | "identity" | "" => Ok(Compression::None),
            "gzip" => Ok(Compression::Gzip),
            "snappy" => Ok(Compression::Snappy),
            "deflate" => Ok(Compression::Deflate),
            #[cfg(feature = "zstd")]
            "zstd" => Ok(Compression::Zstd),
            other => Err(format!("unsupported compression {other:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<Compression> {
        vec![
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Deflate,
            #[cfg(feature = "zstd")]
            Compression::Zstd,
        ]
    }

    #[test]
    fn round_trips() {
        let input: Vec<u8> = (0..100_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        for c in all() {
            let mut packed = Vec::new();
            c.compress(&input, &mut packed).unwrap();
            let mut back = Vec::new();
            c.decompress(&packed, &mut back).unwrap();
            assert_eq!(back, input, "{c:?}");
            if c != Compression::None {
                assert!(packed.len() < input.len(), "{c:?} compresses");
            }
        }
    }

    #[test]
    fn reused_compressors_round_trip() {
        for c in all() {
            let mut comp = Compressor::new(c);
            for round in 0..3u32 {
                let input: Vec<u8> = (0..20_000u32)
                    .flat_map(|i| ((i * (round + 1)) % 97).to_le_bytes())
                    .collect();
                let mut packed = Vec::new();
                comp.compress(&input, &mut packed).unwrap();
                let mut back = Vec::new();
                c.decompress(&packed, &mut back).unwrap();
                assert_eq!(back, input, "{c:?} round {round}");
            }
        }
        // Queued bodies hold what they count: no worst-case capacity left over.
        let input = vec![b'a'; 100_000];
        for c in all() {
            let v = Compressor::new(c).compress_to_vec(&input).unwrap();
            assert_eq!(v.capacity(), v.len(), "{c:?}");
        }
        // An empty body is still a valid gzip member.
        let mut packed = Vec::new();
        Compressor::new(Compression::Gzip)
            .compress(b"", &mut packed)
            .unwrap();
        let mut back = vec![1];
        Compression::Gzip.decompress(&packed, &mut back).unwrap();
        assert!(back.is_empty());
    }

    #[test]
    fn parts_compress_as_their_concatenation() {
        let big: Vec<u8> = (0..300_000u32)
            .flat_map(|i| (i % 1009).to_le_bytes())
            .collect();
        let cases: [&[&[u8]]; 4] = [
            &[b"head", &big, b"tail"],
            &[b"", b"", b""],
            &[b"only"],
            &[&big[..7], b"", &big[7..], &big[..1000]],
        ];
        for c in all() {
            let mut comp = Compressor::new(c);
            for parts in cases {
                let joined = parts.concat();
                let packed = comp.compress_parts_to_vec(parts).unwrap();
                assert_eq!(packed.capacity(), packed.len(), "{c:?}");
                let mut back = Vec::new();
                c.decompress(&packed, &mut back).unwrap();
                assert_eq!(back, joined, "{c:?}");
                // The same body as the joined input gives.
                assert_eq!(packed, comp.compress_to_vec(&joined).unwrap(), "{c:?}");
            }
        }
    }

    #[test]
    fn snappy_is_the_block_format() {
        let mut packed = Vec::new();
        Compression::Snappy
            .compress(b"hello hello hello", &mut packed)
            .unwrap();
        // The block format starts with the uncompressed length as a varint (17), no stream
        // identifier chunk (0xff 0x06 0x00 0x00 "sNaPpY").
        assert_eq!(packed[0], 17);
        assert_ne!(packed[0], 0xff);
    }

    #[test]
    fn deflate_is_the_zlib_format() {
        // HTTP's "deflate" is zlib (RFC 1950): CMF 0x78, a header checksum, an Adler-32 trailer.
        let input = b"deflate deflate deflate".repeat(10);
        let mut packed = Vec::new();
        Compressor::new(Compression::Deflate)
            .compress(&input, &mut packed)
            .unwrap();
        assert_eq!(packed[0], 0x78);
        assert_eq!((u16::from(packed[0]) << 8 | u16::from(packed[1])) % 31, 0);
        let mut back = Vec::new();
        flate2::read::ZlibDecoder::new(&packed[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, input);
    }
}
