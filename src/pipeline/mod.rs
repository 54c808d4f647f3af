//! The colorization pipeline: decode → prepare → infer → propagate (with hints) → recombine →
//! encode, each stage a plain function in its own module, and [`colorize`] running them for
//! one [`Job`].

mod bytes;
pub mod decode;
pub mod encode;
pub mod hint_planes;
pub mod infer;
pub mod metadata;
pub mod prepare;
pub mod propagate;
pub mod provenance;
pub mod recombine;
pub mod reference;
mod tiff_strips;
pub mod xmp;

use crate::base::StepAction;
pub use crate::base::{Step, Steps};
use crate::budget;
use crate::job::{Job, Profile, Settings};
use crate::sink::AtomicFile;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Why one photo could not be colorized. The message is the reason; the file is named by
/// [`JobError`].
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The original could not be read.
    #[error("cannot read: {0}")]
    Read(std::io::Error),
    /// A zero-byte file.
    #[error("empty file (0 bytes)")]
    Empty,
    /// Not an image, or a format hued does not handle.
    #[error("unsupported format: {0}")]
    Unsupported(String),
    /// Damaged or cut-off image data.
    #[error("corrupt image: {0}")]
    Corrupt(String),
    /// Over the configured pixel limit.
    #[error("image is {width}x{height} ({megapixels:.1} MP), over the limit of {limit} MP (colorize.max_megapixels)")]
    TooLarge {
        /// The image's width in pixels, as its header states it.
        width: u32,
        /// Its height in pixels.
        height: u32,
        /// width x height, in millions.
        megapixels: f64,
        /// `colorize.max_megapixels` in effect.
        limit: f64,
    },
    /// The color hints do not fit the photo.
    #[error("bad color hints: {0}")]
    Hints(String),
    /// The reference photo could not be read or used (the message names it).
    #[error("{0}")]
    Reference(String),
    /// The model failed.
    #[error("model failed: {0:#}")]
    Model(anyhow::Error),
    /// The output could not be encoded.
    #[error("cannot encode output: {0:#}")]
    Encode(anyhow::Error),
    /// Colorizing the photo would need more memory than the whole process may use.
    #[error("image is {width}x{height}: colorizing it needs about {need_mb} MB, over the memory budget of {budget_mb} MB (daemon.memory_budget_mb)")]
    OverBudget {
        /// The image's width in pixels.
        width: u32,
        /// Its height in pixels.
        height: u32,
        /// What colorizing it would take, by the budget's estimate (`budget::estimate`).
        need_mb: u64,
        /// The whole budget.
        budget_mb: u64,
    },
    /// The output's name holds a copy that hued made of another photo (two photos of one name
    /// sent to one folder, by two shards or two runs): it is never overwritten nor taken as
    /// up to date.
    #[error("{} holds the copy of another photo ({original}): colorize them into different --out folders, or move that copy away", output.display())]
    AnotherPhotosCopy {
        /// The copy's path.
        output: PathBuf,
        /// The original that copy was made from, as its provenance records it.
        original: String,
    },
    /// The output's name holds a file hued did not write (no hued provenance in it): a person's
    /// own file, never replaced, `--force` included.
    #[error("{} was not written by hued{}: hued never replaces a file it did not write; move it away, or colorize into another --out folder or with another suffix", output.display(), if *bmp { " as far as it can tell (a BMP carries no metadata to say so)" } else { " (it carries no hued provenance)" })]
    NotWrittenByHued {
        /// The file at the copy's name.
        output: PathBuf,
        /// It is a BMP, whose writer cannot be told.
        bmp: bool,
    },
    /// The pipeline panicked (a bug): the photo is failed, the worker lives on.
    #[error("internal error (please report): {0}")]
    Panicked(String),
    /// The output could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The output's path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Write errors that end by themselves (a full disk, a busy or flaky share, an output folder
/// not writable yet) as opposed to those that never will for this file (its name is too long,
/// a folder sits at its output path, the file system is read-only or cannot hold it).
fn is_transient_write(e: &std::io::Error) -> bool {
    const EISDIR: i32 = 21;
    const EFBIG: i32 = 27;
    const EROFS: i32 = 30;
    const ENAMETOOLONG: i32 = 36;
    !matches!(e.raw_os_error(), Some(EISDIR | EFBIG | EROFS | ENAMETOOLONG))
}

impl PipelineError {
    /// Errors that may go away by themselves (a busy or vanished file, a full disk, an output
    /// folder not writable yet): worth retrying later, unlike a damaged image.
    pub fn is_transient(&self) -> bool {
        match self {
            PipelineError::Read(e) => e.kind() != std::io::ErrorKind::PermissionDenied,
            PipelineError::Write { source, .. } => is_transient_write(source),
            _ => false,
        }
    }
}

/// A [`PipelineError`] with the file it is about.
#[derive(Debug, thiserror::Error)]
#[error("{}: {error}", path.display())]
pub struct JobError {
    /// The original's path.
    pub path: PathBuf,
    /// What went wrong.
    pub error: PipelineError,
}

/// Why a photo was left alone: nothing needed doing (not an error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// The photo already has color.
    AlreadyInColor,
    /// Its colorized copy is newer than it (and than its hints sidecar).
    UpToDate,
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SkipReason::AlreadyInColor => "already in color",
            SkipReason::UpToDate => "its colorized copy is up to date",
        })
    }
}

/// What became of a photo: `T` is what colorizing it gave ([`Written`] for a file,
/// [`InMemory`] for an upload).
#[derive(Debug)]
pub enum Outcome<T = Written> {
    /// Colorized.
    Done(T),
    /// Left alone, for this reason.
    Skipped(SkipReason),
}

/// A colorized copy written to disk.
#[derive(Debug)]
pub struct Written {
    /// The colorized copy.
    pub output: PathBuf,
    /// What each stage did, and its time.
    pub steps: Steps,
    /// Metadata that could not be carried over.
    pub warning: Option<String>,
    /// sha256 of the original, as recorded in the copy's metadata.
    pub source_sha256: String,
}

/// The colorized pixels of one photo and what its file needs besides them.
struct Colorization {
    colorized: recombine::Colorized,
    format: image::ImageFormat,
    icc: Option<Vec<u8>>,
    exif: Option<Vec<u8>>,
    xmp: Option<Vec<u8>>,
    xmp_extension: Vec<Vec<u8>>,
    iptc: Option<Vec<u8>>,
    density: Option<decode::JfifDensity>,
    tiff_tags: Option<decode::TiffTags>,
    png: Option<decode::PngExtras>,
    provenance: metadata::Provenance,
    /// A preview-sized copy of the original, when a comparison image is wanted.
    compare_source: Option<image::RgbImage>,
    /// The photo's share of the memory budget: held until the output is encoded and written.
    _reservation: budget::Reservation,
}

impl Colorization {
    /// Whether its copy gets Content Credentials: a key is set and the format holds them.
    fn signed(&self, s: &Settings) -> bool {
        s.credentials.is_some() && crate::credentials::c2pa_mime(self.format).is_some()
    }

    /// What the copy's file carries besides its pixels; `signed`: the copy gets Content
    /// Credentials; `parameters`: what was done, for its XMP History.
    fn output_metadata<'a>(&'a self, signed: bool, parameters: &'a str) -> encode::OutputMetadata<'a> {
        encode::OutputMetadata {
            signed,
            icc: self.icc.as_deref(),
            exif: self.exif.as_deref(),
            xmp: self.xmp.as_deref(),
            xmp_extension: &self.xmp_extension,
            iptc: self.iptc.as_deref(),
            density: self.density,
            tiff_tags: self.tiff_tags.as_ref(),
            png: self.png.as_ref(),
            provenance: &self.provenance,
            parameters,
        }
    }
}

/// Where a photo comes from: the two ends of the one pipeline body.
enum Source<'a> {
    /// A file; only ever opened for reading.
    File(&'a Path),
    /// An encoded photo in memory (a kiosk upload), with its name as uploaded.
    Bytes(&'a [u8], &'a str),
}

impl Source<'_> {
    /// Its name, for the copy's Content Credentials.
    fn title(&self) -> String {
        match self {
            Source::File(path) => path.file_name().unwrap_or_default().to_string_lossy().into_owned(),
            Source::Bytes(_, name) => name.to_string(),
        }
    }

    /// Its bytes from the start, again (for the Content Credentials' parent ingredient). Not an
    /// io error: it is the original, not the copy's folder, that failed.
    fn reopen(&self) -> anyhow::Result<Box<dyn ReadSeek + '_>> {
        Ok(match self {
            Source::File(path) => Box::new(std::io::BufReader::new(
                crate::base::open_regular(path).map_err(|e| anyhow::anyhow!("cannot read the original again for its Content Credentials: {e}"))?,
            )),
            Source::Bytes(data, _) => Box::new(std::io::Cursor::new(*data)),
        })
    }

    /// Its format, by its first bytes (none where hued does not read it).
    fn format(&self) -> Option<image::ImageFormat> {
        let mut head = [0u8; 32];
        let n = match self {
            Source::File(path) => crate::base::open_regular(path).and_then(|mut f| f.read(&mut head)).ok()?,
            Source::Bytes(data, _) => {
                let n = data.len().min(32);
                head[..n].copy_from_slice(&data[..n]);
                n
            }
        };
        image::guess_format(&head[..n]).ok()
    }

    /// Reads, hashes and decodes it: the decode stage.
    fn decode(&self, max_megapixels: f64, steps: &mut Steps) -> Result<(String, decode::Decoded), PipelineError> {
        let t = Instant::now();
        let (sha256, decoded) = match self {
            Source::File(path) => {
                // Hashed through a handle opened as a regular file only: a FIFO swapped in after
                // the stability check must not block the worker. The hash runs beside the decode
                // (a plain thread, not rayon's: the decode may wait for the memory budget, and a
                // pool thread must never wait on work that needs the pool).
                let (sha256, decoded) = std::thread::scope(|scope| {
                    let hash = scope.spawn(|| crate::base::open_regular(path).and_then(crate::model::sha256_reader));
                    let decoded = decode::decode(path, max_megapixels);
                    (hash.join().unwrap_or_else(|_| Err(std::io::Error::other("hashing the original panicked"))), decoded)
                });
                (sha256.map_err(PipelineError::Read)?, decoded?)
            }
            Source::Bytes(data, _) => (crate::model::sha256_bytes(data), decode::decode_bytes(data, max_megapixels)?),
        };
        let (w, h) = (decoded.image.width(), decoded.image.height());
        steps.push(Step { name: "decode", parameters: vec![("size", format!("{w}x{h}"))], action: None, time: t.elapsed() });
        Ok((sha256, decoded))
    }
}

use crate::credentials::ReadSeek;

/// The one body both ends share: the source decoded and hashed, then prepare → infer
/// (propagate) → recombine, each stage pushing its step. `source_path`: the original's
/// absolute path, recorded in the copy (none for an upload); `original_preview`: keep a copy
/// of the original that fits this size (comparison image, kiosk page).
fn colorize_source(
    source: &Source,
    source_path: Option<PathBuf>,
    profile: &Profile,
    hints: &[crate::hints::Hint],
    reference_photo: Option<&reference::Reference>,
    original_preview: Option<(u32, u32)>,
    steps: &mut Steps,
) -> Result<Outcome<Colorization>, PipelineError> {
    let (model, s) = (&*profile.model, &profile.settings);
    let (source_sha256, decoded) = source.decode(s.max_megapixels, steps)?;
    // Fault injection for the tests of the panic guards (debug builds only): a bug met by one
    // photo must fail that photo alone.
    #[cfg(debug_assertions)]
    if std::env::var("HUED_FAULT_PANIC_WIDTH").ok().and_then(|v| v.parse::<u32>().ok()) == Some(decoded.image.width()) {
        panic!("fault injected for a {}-pixel-wide photo (HUED_FAULT_PANIC_WIDTH)", decoded.image.width());
    }
    let t = Instant::now();
    crate::hints::check(hints, decoded.image.width(), decoded.image.height()).map_err(PipelineError::Hints)?;
    if s.skip_color && !s.force && prepare::color_stats(&decoded.image).is_color() {
        return Ok(Outcome::Skipped(SkipReason::AlreadyInColor));
    }
    let sixteen_bit = matches!(decoded.image.color().bytes_per_pixel() / decoded.image.color().channel_count(), 2..)
        && matches!(decoded.format, image::ImageFormat::Png | image::ImageFormat::Tiff);
    // Only a preview-sized copy of the original is kept (comparison image, kiosk page).
    let compare_source = original_preview.map(|(w, h)| encode::fit_within(&decoded.image, w, h));
    let mut luma = prepare::lightness(&decoded.image);
    let decode::Decoded { image, format, icc, exif, xmp, xmp_extension, iptc, density, tiff_tags, png, reservation } = decoded;
    drop(image); // the pixels are not needed past this point: free them before the big buffers
    let stretched = prepare::apply_levels(&mut luma, &s.levels);
    let mode = format!("{:?}", s.levels.mode).to_lowercase();
    let (levels, action) = match stretched {
        Some((black, white)) => (format!("{mode}, stretched from {black:.1}-{white:.1} L"), Some(StepAction::Adjusted)),
        None => (format!("{mode}, kept"), None),
    };
    steps.push(Step { name: "prepare", parameters: vec![("levels", levels)], action, time: t.elapsed() });

    // Colors from a reference photo: its matches become hints beside the user's (theirs win).
    let with_reference;
    let hints = match reference_photo {
        Some(r) => {
            let t = Instant::now();
            let matched = reference::match_reference(&luma, r);
            let step = reference::step(r, &matched, t.elapsed());
            with_reference = reference::merge(hints, matched.hints, (luma.width, luma.height));
            steps.push(step);
            &with_reference[..]
        }
        None => hints,
    };

    let t = Instant::now();
    let ab = infer::infer(model, &luma, s.model_long_side, hints).map_err(PipelineError::Model)?;
    let ab = if hints.is_empty() {
        ab
    } else {
        // The hint-free guess too: where the hints do not reach, it is what stays.
        let plain = infer::infer(model, &luma, s.model_long_side, &[]).map_err(PipelineError::Model)?;
        propagate::propagate(&luma, ab, &plain, hints, &propagate::Params::default())
    };
    let parameters = vec![("model", format!("{} (sha256 {})", model.manifest.name, model.sha256)), ("color hints", hints.len().to_string())];
    steps.push(Step { name: "infer", parameters, action: Some(StepAction::Colorized), time: t.elapsed() });

    let t = Instant::now();
    let colorized = recombine::recombine(&luma, &ab, s.vividness, sixteen_bit);
    drop(luma);
    steps.push(Step { name: "recombine", parameters: vec![("vividness", s.vividness.to_string())], action: None, time: t.elapsed() });
    let provenance = metadata::Provenance { model_name: model.manifest.name.clone(), model_sha256: model.sha256.clone(), source_sha256, source_path };
    Ok(Outcome::Done(Colorization {
        colorized,
        format,
        icc,
        exif,
        xmp,
        xmp_extension,
        iptc,
        density,
        tiff_tags,
        png,
        provenance,
        compare_source,
        _reservation: reservation,
    }))
}

/// The signing's share of the memory budget: C2PA's TIFF writer holds a whole copy of the file
/// in memory while it signs. A copy that could never fit beside the photo's own share is an
/// error of this photo; one that waits for other photos to finish is an io error (passing: a
/// watched photo is retried, an upload told to try again).
fn reserve_for_signing(format: image::ImageFormat, copy_len: u64, held: u64) -> anyhow::Result<Option<budget::Reservation>> {
    if format != image::ImageFormat::Tiff {
        return Ok(None);
    }
    let need = copy_len + (1 << 20);
    if let Some(total) = budget::total().filter(|total| held + need > *total) {
        anyhow::bail!(
            "signing needs a copy of the TIFF in memory ({} MB) beside the photo's own {} MB: more than the whole memory budget of {} MB (daemon.memory_budget_mb)",
            need >> 20,
            held >> 20,
            total >> 20
        );
    }
    Ok(Some(budget::try_reserve(need).ok_or_else(|| {
        std::io::Error::other(format!("signing needs {} MB more of the memory budget (a copy of the TIFF in memory) and other photos hold it now", need >> 20))
    })?))
}

/// The encode stage of both ends: the copy encoded into a writer that `new` makes, then, where
/// a key is set and the format holds them, signed into a second one, which is returned. The
/// steps so far go into the copy's XMP History and its Content Credentials.
fn encode_copy<W: Read + Write + Seek + Send>(
    c: &Colorization,
    s: &Settings,
    source: &Source,
    reference: Option<(&reference::Reference, &Source)>,
    steps: &Steps,
    mut new: impl FnMut() -> std::io::Result<W>,
) -> anyhow::Result<(W, Option<String>)> {
    let signed = c.signed(s);
    let parameters = steps.parameters();
    let meta = c.output_metadata(signed, &parameters);
    let mut copy = new()?;
    let warning = encode::encode(&c.colorized, c.format, &meta, encode::EncodeOptions { jpeg_quality: s.jpeg_quality, compression: s.compression }, &mut copy)?;
    let Some(credentials) = s.credentials.as_ref().filter(|_| signed) else { return Ok((copy, warning)) };
    let len = copy.seek(std::io::SeekFrom::End(0))?;
    copy.rewind()?;
    let _held = reserve_for_signing(c.format, len, c._reservation.bytes())?;
    let mut original = source.reopen()?;
    let title = source.title();
    let original = crate::credentials::Original { stream: &mut original, format: c.format, title: &title, sha256: &c.provenance.source_sha256 };
    // The reference photo the colors came from, as a component ingredient.
    let mut reference_stream = match reference {
        Some((_, file)) => Some((file.reopen()?, file.format())),
        None => None,
    };
    let components = match (reference, reference_stream.as_mut()) {
        (Some((r, _)), Some((stream, Some(format)))) => {
            vec![crate::credentials::Component { stream: &mut **stream, format: *format, title: &r.name, sha256: &r.sha256 }]
        }
        _ => Vec::new(),
    };
    let mut dest = new()?;
    let made = crate::credentials::MadeWith { steps: &steps.0, components };
    credentials.sign(original, c.format, &mut copy, &mut dest, made).map_err(|e| e.context("signing the Content Credentials"))?;
    // The unsigned copy goes as it is dropped (a file end's temporary is removed).
    Ok((dest, warning))
}

/// Colorizes one photo. Never writes to the original; the output appears whole or not at all.
/// Unless `settings.force`, a photo whose copy is up to date is skipped.
pub fn colorize(job: &Job) -> Result<Outcome, JobError> {
    let fail = |error| JobError { path: job.input.clone(), error };
    if job.output == job.input {
        return Err(fail(PipelineError::Write {
            path: job.output.clone(),
            source: std::io::Error::new(std::io::ErrorKind::AlreadyExists, "the output would replace the original"),
        }));
    }
    let s = job.settings();
    let source_path = std::fs::canonicalize(&job.input).ok().or_else(|| std::path::absolute(&job.input).ok());
    match existing_copy(job, source_path.as_deref()) {
        // A copy whose recorded original is gone from this machine (a moved tree, a share
        // mounted elsewhere) may be another photo's: only --force replaces it.
        ExistingCopy::Another { original, gone } if !(gone && s.force) => {
            let original = if gone { format!("{original}, which is not here: --force replaces that copy") } else { original };
            return Err(fail(PipelineError::AnotherPhotosCopy { output: job.output.clone(), original }));
        }
        ExistingCopy::NotOurs => return Err(fail(PipelineError::NotWrittenByHued { output: job.output.clone(), bmp: false })),
        ExistingCopy::Ours | ExistingCopy::Unknown | ExistingCopy::Bmp if !s.force && crate::sink::is_up_to_date(&job.depends_on(), &job.output) => {
            return Ok(Outcome::Skipped(SkipReason::UpToDate));
        }
        // A BMP at the copy's name that would have to be replaced: hued cannot tell its own.
        ExistingCopy::Bmp => return Err(fail(PipelineError::NotWrittenByHued { output: job.output.clone(), bmp: true })),
        _ => {}
    }
    let mut steps = Steps::default();
    let source = Source::File(&job.input);
    let original_preview = job.compare.is_some().then_some((encode::COMPARE_WIDTH, u32::MAX));
    let reference_photo = match job.reference() {
        Some(path) => Some(crate::reference::load_cached(path, s.max_megapixels).map_err(|e| fail(PipelineError::Reference(e.to_string())))?),
        None => None,
    };
    let c = match colorize_source(&source, source_path.clone(), &job.profile, &job.hints, reference_photo.as_deref(), original_preview, &mut steps)
        .map_err(fail)?
    {
        Outcome::Done(c) => c,
        Outcome::Skipped(reason) => return Ok(Outcome::Skipped(reason)),
    };

    let t = Instant::now();
    // Another run may have placed a copy at this name since it was checked (two shards, two
    // photos of one name): that copy is replaced only if it is this photo's.
    let may_replace = |_: &Path| match existing_copy(job, source_path.as_deref()) {
        ExistingCopy::Another { gone, .. } => gone && s.force,
        ExistingCopy::NotOurs | ExistingCopy::Unknown | ExistingCopy::Bmp => false,
        ExistingCopy::Ours | ExistingCopy::Absent => true,
    };
    let reference_file = job.reference().map(Source::File);
    let reference = reference_photo.as_deref().zip(reference_file.as_ref());
    let warning = write_output(&job.output, Some(&may_replace), |new| encode_copy(&c, s, &source, reference, &steps, new)).map_err(|e| match e {
        PipelineError::Write { source, .. } if source.kind() == std::io::ErrorKind::AlreadyExists => {
            let original = match existing_copy(job, source_path.as_deref()) {
                ExistingCopy::Another { original, .. } => original,
                _ => "written by another run meanwhile".to_string(),
            };
            fail(PipelineError::AnotherPhotosCopy { output: job.output.clone(), original })
        }
        e => fail(e),
    })?;
    if let (Some(path), Some(original)) = (&job.compare, &c.compare_source) {
        write_output(path, None, |new| {
            let mut file = new()?;
            encode::encode_compare(original, &c.colorized, &mut file)?;
            Ok((file, None))
        })
        .map_err(fail)?;
    }
    steps.push(encode_step(&c, s, t));
    Ok(Outcome::Done(Written { output: job.output.clone(), steps, warning, source_sha256: c.provenance.source_sha256.clone() }))
}

/// The encode stage's record.
fn encode_step(c: &Colorization, s: &Settings, started: Instant) -> Step {
    let format = format!("{:?}", c.format).to_lowercase();
    let how = match c.format {
        image::ImageFormat::Jpeg => format!("quality {}", s.jpeg_quality),
        image::ImageFormat::Png | image::ImageFormat::Tiff => format!("compression {:?}", s.compression).to_lowercase(),
        _ => String::new(),
    };
    Step { name: "encode", parameters: vec![("format", format), ("options", how)], action: None, time: started.elapsed() }
}

/// What sits at a job's output name already.
enum ExistingCopy {
    /// Nothing.
    Absent,
    /// A copy hued made of this photo (its recorded path, or else its recorded hash, is this
    /// original's).
    Ours,
    /// A copy whose original cannot be read now: judged by its time alone (the colorizing that
    /// follows reports why the original cannot be read).
    Unknown,
    /// A BMP without provenance (a BMP carries no metadata: hued's own BMP copy and a person's
    /// file look alike): skipped while up to date, never replaced.
    Bmp,
    /// A file in a format that carries hued's provenance, without it: a person's own file
    /// (a hand-tinted `x.colorized.jpg`). Never taken for hued's copy nor replaced.
    NotOurs,
    /// A copy hued made of another photo: the original it names, and whether that original's
    /// recorded path is missing on this machine.
    Another {
        /// The recorded original.
        original: String,
        /// Its recorded path does not exist here.
        gone: bool,
    },
}

/// Whose copy is at the job's output, by the provenance the copy carries. The original is
/// hashed only when the recorded path is not its own (a share mounted elsewhere, a moved tree).
fn existing_copy(job: &Job, source_path: Option<&Path>) -> ExistingCopy {
    if std::fs::symlink_metadata(&job.output).is_err() {
        return ExistingCopy::Absent;
    }
    let Some(theirs) = metadata::read_provenance(&job.output) else {
        return if crate::base::is_bmp_name(&job.output) { ExistingCopy::Bmp } else { ExistingCopy::NotOurs };
    };
    if theirs.source_path.is_some() && theirs.source_path.as_deref() == source_path {
        return ExistingCopy::Ours;
    }
    match crate::base::open_regular(&job.input).and_then(crate::model::sha256_reader) {
        Ok(ours) if ours == theirs.source_sha256 => ExistingCopy::Ours,
        Ok(_) => match theirs.source_path {
            Some(p) => ExistingCopy::Another { gone: std::fs::symlink_metadata(&p).is_err(), original: p.display().to_string() },
            None => ExistingCopy::Another { original: format!("original sha256 {}", theirs.source_sha256), gone: false },
        },
        // Unreadable now: the colorizing that follows reports why.
        Err(_) => ExistingCopy::Unknown,
    }
}

/// A photo colorized in memory (the kiosk page's uploads, which never touch the disk).
#[derive(Debug)]
pub struct InMemory {
    /// The encoded colorized photo, in the original's format, with provenance metadata.
    pub bytes: Vec<u8>,
    /// That format.
    pub format: image::ImageFormat,
    /// The result's width in pixels (the upload's, turned upright).
    pub width: u32,
    /// The result's height in pixels.
    pub height: u32,
    /// What each stage did, and its time.
    pub steps: Steps,
    /// The original, shrunk to fit the preview size, as a JPEG.
    pub before_jpeg: Vec<u8>,
    /// The colorized photo, shrunk to the same size, as a JPEG.
    pub after_jpeg: Vec<u8>,
}

/// What became of a photo, in the words every part of hued uses ([`crate::base::PhotoOutcome`]).
pub fn photo_outcome<T, E>(result: &Result<Outcome<T>, E>) -> crate::base::PhotoOutcome {
    match result {
        Ok(Outcome::Done(_)) => crate::base::PhotoOutcome::Done,
        Ok(Outcome::Skipped(_)) => crate::base::PhotoOutcome::Skipped,
        Err(_) => crate::base::PhotoOutcome::Failed,
    }
}

/// Runs one photo's work so that a panic (a bug met by this photo) fails only this photo, as
/// `on_panic` of [`PipelineError::Panicked`] with the panic's message, and the caller goes on with
/// the next. The one guard of the service's workers and the page's.
pub fn guarded<T, E>(work: impl FnOnce() -> Result<T, E>, on_panic: impl FnOnce(PipelineError) -> E) -> Result<T, E> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).unwrap_or_else(|panic| {
        let message =
            panic.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| panic.downcast_ref::<String>().cloned()).unwrap_or_else(|| "panic".to_string());
        Err(on_panic(PipelineError::Panicked(message)))
    })
}

/// What the kiosk page uses besides [`colorize_bytes`]: the memory budget its results are held
/// in, and the quick look at an upload before it is queued. The page goes through these, not
/// into the stages.
pub use budget::{reserve as reserve_memory, total as memory_budget, Reservation};
pub use decode::probe_bytes;

/// A JPEG preview of the photo at `path`, at most `side` pixels long (the kiosk view).
pub fn preview_file(path: &Path, max_megapixels: f64, side: u32) -> Result<Vec<u8>, PipelineError> {
    let d = decode::decode(path, max_megapixels)?;
    Ok(encode::preview_jpeg(&encode::fit_within(&d.image, side, side)))
}

/// What one photo held in memory brings to [`colorize_bytes`]: the per-job inputs (the
/// settings and the model are the [`Profile`]'s).
pub struct Upload<'a> {
    /// The encoded photo.
    pub data: &'a [u8],
    /// Its name, as uploaded.
    pub name: &'a str,
    /// Its color hints.
    pub hints: &'a [crate::hints::Hint],
    /// A reference photo sent with it (its bytes, dropped once read, and its name); else the
    /// profile's, if any.
    pub reference: Option<(Vec<u8>, String)>,
}

/// Colorizes an encoded photo held in memory into an encoded photo in memory, with before and
/// after previews that fit in `preview_side` pixels: the memory end of the body [`colorize`]
/// shares.
pub fn colorize_bytes(upload: Upload<'_>, profile: &Profile, preview_side: u32) -> Result<Outcome<InMemory>, PipelineError> {
    let Upload { data, name, hints, reference: reference_upload } = upload;
    let mut steps = Steps::default();
    let source = Source::Bytes(data, name);
    let max = profile.settings.max_megapixels;
    // The reference's bytes stay until the copy is signed (its ingredient), then go with it.
    let reference_photo = match (&reference_upload, &profile.colorize.reference) {
        (Some((bytes, name)), _) => {
            Some(std::sync::Arc::new(reference::Reference::from_bytes(bytes, name, max).map_err(|e| PipelineError::Reference(e.to_string()))?))
        }
        (None, Some(path)) => Some(crate::reference::load_cached(path, max).map_err(|e| PipelineError::Reference(e.to_string()))?),
        (None, None) => None,
    };
    let reference_file = match (&reference_upload, &profile.colorize.reference) {
        (Some((bytes, name)), _) => Some(Source::Bytes(bytes, name)),
        (None, Some(path)) => Some(Source::File(path)),
        (None, None) => None,
    };
    let reference = reference_photo.as_deref().zip(reference_file.as_ref());
    let reference_photo = reference_photo.as_deref();
    let c = match colorize_source(&source, None, profile, hints, reference_photo, Some((preview_side, preview_side)), &mut steps)? {
        Outcome::Done(c) => c,
        Outcome::Skipped(reason) => return Ok(Outcome::Skipped(reason)),
    };
    let t = Instant::now();
    let (out, warning) =
        encode_copy(&c, &profile.settings, &source, reference, &steps, || Ok(std::io::Cursor::new(Vec::new()))).map_err(PipelineError::Encode)?;
    if let Some(warning) = warning {
        log::warn!("upload: {warning}");
    }
    steps.push(encode_step(&c, &profile.settings, t));
    let (width, height) = c.colorized.dimensions();
    let before_preview = c.compare_source.expect("asked for a preview");
    let after_preview = encode::resized_rgb8(&c.colorized, before_preview.width(), before_preview.height());
    let (before_jpeg, after_jpeg) = (encode::preview_jpeg(&before_preview), encode::preview_jpeg(&after_preview));
    Ok(Outcome::Done(InMemory { bytes: out.into_inner(), format: c.format, width, height, steps, before_jpeg, after_jpeg }))
}

/// Encodes into [`AtomicFile`]s at `path` (`encode` makes them with the function it is given and
/// returns the one to place); nothing is left behind on failure. With `may_replace`, a file
/// placed at `path` by someone else meanwhile is replaced only if it says so (else a `Write`
/// error of kind `AlreadyExists`).
fn write_output(
    path: &Path,
    may_replace: Option<&dyn Fn(&Path) -> bool>,
    encode: impl FnOnce(&mut dyn FnMut() -> std::io::Result<AtomicFile>) -> anyhow::Result<(AtomicFile, Option<String>)>,
) -> Result<Option<String>, PipelineError> {
    let write_err = |source| PipelineError::Write { path: path.to_path_buf(), source };
    let encode_err = |e: anyhow::Error| match e.downcast::<std::io::Error>() {
        Ok(io) => write_err(io),
        Err(e) => match e.downcast::<image::ImageError>() {
            Ok(image::ImageError::IoError(io)) => write_err(io),
            Ok(other) => PipelineError::Encode(other.into()),
            Err(e) => PipelineError::Encode(e),
        },
    };
    let (file, warning) = encode(&mut || AtomicFile::create(path)).map_err(encode_err)?;
    match may_replace {
        Some(may_replace) => file.commit_unless_taken(may_replace),
        None => file.commit(),
    }
    .map_err(write_err)?;
    Ok(warning)
}

#[cfg(test)]
mod tests {
    #[test]
    fn write_errors_that_never_end_are_permanent() {
        let write = |errno| super::PipelineError::Write { path: "x".into(), source: std::io::Error::from_raw_os_error(errno) };
        for permanent in [21, 27, 30, 36] {
            assert!(!write(permanent).is_transient(), "errno {permanent}");
        }
        // Full disk, I/O error, try again, busy, and a file where a folder should be (fixable).
        for transient in [28, 5, 11, 16, 17, 20] {
            assert!(write(transient).is_transient(), "errno {transient}");
        }
    }
}
