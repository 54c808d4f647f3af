//! Where a photo's bytes are, for the decoders: an open file or memory, read by any number of
//! readers at once, each at its own position.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};

/// Where a photo's bytes are: an open file or memory, which any number of readers can read at
/// once, each at its own position (a TIFF's strips are read in parallel).
#[derive(Clone, Copy)]
pub(crate) enum Source<'a> {
    File { file: &'a File, len: u64 },
    Bytes(&'a [u8]),
}

impl<'a> Source<'a> {
    pub(crate) fn len(self) -> u64 {
        match self {
            Source::File { len, .. } => len,
            Source::Bytes(data) => data.len() as u64,
        }
    }

    /// A new buffered reader at the start.
    pub(crate) fn reader(self) -> BufReader<At<'a>> {
        BufReader::new(At { source: self, position: 0 })
    }
}

/// A reader of a [`Source`] with its own position: positioned reads (`pread`), so that readers
/// of one file never move each other's offset.
pub(crate) struct At<'a> {
    source: Source<'a>,
    position: u64,
}

impl Read for At<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = match self.source {
            Source::File { file, .. } => std::os::unix::fs::FileExt::read_at(file, buf, self.position)?,
            Source::Bytes(data) => {
                let rest = data.get(self.position.min(data.len() as u64) as usize..).unwrap_or_default();
                let n = rest.len().min(buf.len());
                buf[..n].copy_from_slice(&rest[..n]);
                n
            }
        };
        self.position += n as u64;
        Ok(n)
    }
}

impl Seek for At<'_> {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let (base, offset) = match to {
            SeekFrom::Start(n) => (n, 0),
            SeekFrom::Current(d) => (self.position, d),
            SeekFrom::End(d) => (self.source.len(), d),
        };
        self.position =
            base.checked_add_signed(offset).ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before the start or past 2^64 bytes"))?;
        Ok(self.position)
    }
}
