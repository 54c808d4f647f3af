//! Content Credentials: a signed C2PA manifest in each copy, when the institution gives hued a
//! signing certificate and key (`[provenance]` in hued.toml). The manifest says what the XMP
//! says (the colors are AI, made from this original, by hued) in a form a machine can check:
//! the claim is signed and the copy's bytes are hashed into it, so a copy altered afterwards no
//! longer validates. Built with the `c2pa` cargo feature (on by default); without a key, no
//! manifest is written at all (one signed with a key nobody vouches for would prove nothing).

use crate::base::Step;
#[cfg(feature = "c2pa")]
use crate::base::StepAction;
use std::io::{Read, Seek, Write};
use std::path::Path;

/// What the manifest says about the original (its parent ingredient).
pub struct Original<'a, R: Read + Seek + Send> {
    /// The original's bytes.
    pub stream: &'a mut R,
    /// Its format.
    pub format: image::ImageFormat,
    /// Its file name (an upload's name as given).
    pub title: &'a str,
    /// sha256 of its bytes, recorded beside it (C2PA keeps no hash of a parent without a
    /// manifest of its own).
    pub sha256: &'a str,
}

/// A reader that seeks and may cross threads, as C2PA reads an ingredient.
pub trait ReadSeek: Read + Seek + Send {}
impl<T: Read + Seek + Send> ReadSeek for T {}

/// Another photo the copy was made with (a color reference photo): a component ingredient of
/// its manifest, with its name and hash.
pub struct Component<'a> {
    /// Its bytes.
    pub stream: &'a mut dyn ReadSeek,
    /// Its format.
    pub format: image::ImageFormat,
    /// Its file name.
    pub title: &'a str,
    /// sha256 of its bytes.
    pub sha256: &'a str,
}

/// What a copy was made with, for its manifest: the pipeline's steps (an action for each that
/// changed what the photo shows) and the other photos it took colors from.
pub struct MadeWith<'a> {
    /// The pipeline's record of the copy's stages.
    pub steps: &'a [Step],
    /// A reference photo, as a component ingredient.
    pub components: Vec<Component<'a>>,
}

/// The MIME type C2PA knows a format by, for the formats it can embed a manifest in.
pub fn c2pa_mime(format: image::ImageFormat) -> Option<&'static str> {
    match format {
        image::ImageFormat::Jpeg => Some("image/jpeg"),
        image::ImageFormat::Png => Some("image/png"),
        image::ImageFormat::Tiff => Some("image/tiff"),
        image::ImageFormat::WebP => Some("image/webp"),
        _ => None,
    }
}

#[cfg(feature = "c2pa")]
mod signing {
    use super::*;
    use std::path::PathBuf;
    use std::sync::Arc;

    /// The largest certificate chain or key file read (a chain is a few KB).
    const MAX_PEM_BYTES: u64 = 1 << 20;

    fn read_pem(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
        use anyhow::Context;
        let file = crate::base::open_regular(path).with_context(|| format!("{}: cannot read the C2PA {what}", path.display()))?;
        let mut bytes = Vec::new();
        file.take(MAX_PEM_BYTES + 1).read_to_end(&mut bytes).with_context(|| format!("{}: cannot read the C2PA {what}", path.display()))?;
        if bytes.len() as u64 > MAX_PEM_BYTES || !bytes.windows(10).any(|w| w == b"-----BEGIN") {
            anyhow::bail!("{}: the C2PA {what} is not a PEM file", path.display());
        }
        Ok(bytes)
    }

    /// A signer made once from the configured certificate chain and key, shared by every job.
    #[derive(Clone)]
    pub struct Credentials {
        signer: Arc<dyn c2pa::Signer + Send + Sync>,
        cert: PathBuf,
    }

    impl PartialEq for Credentials {
        fn eq(&self, other: &Self) -> bool {
            Arc::ptr_eq(&self.signer, &other.signer)
        }
    }

    impl std::fmt::Debug for Credentials {
        // Never the key.
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "Credentials({}, {})", self.cert.display(), self.signer.alg())
        }
    }

    /// Offline settings: no certificate status or remote manifest fetched; a manifest is read
    /// back after signing, so a certificate the readers would refuse fails here, not later.
    fn context(verify_after_sign: bool) -> c2pa::Result<c2pa::Context> {
        c2pa::Context::new().with_settings(serde_json::json!({
            "verify": { "ocsp_fetch": false, "remote_manifest_fetch": false, "verify_after_sign": verify_after_sign },
            "builder": { "thumbnail": { "enabled": false } },
            // The SDK keeps a whole copy in memory up to this size, beyond the photo's share of
            // the memory budget: past 16 MB it works in an unnamed temporary file instead.
            "core": { "backing_store_memory_threshold_in_mb": 16 }
        }))
    }

    impl Credentials {
        /// Loads the chain (PEM, the signing certificate first) and its PKCS#8 PEM key, finds
        /// the algorithm the key is for, and signs a test image with them, so that a key that
        /// does not match, or a certificate C2PA readers refuse (no digitalSignature use, no
        /// document-signing EKU, no organization), is an error at start naming the file.
        pub fn load(cert: &Path, key: &Path) -> anyhow::Result<Credentials> {
            use c2pa::SigningAlg::*;
            let (chain, private) = (read_pem(cert, "certificate chain")?, read_pem(key, "private key")?);
            let mut last_error = None;
            for alg in [Es256, Es384, Es512, Ps256, Ps384, Ps512, Ed25519] {
                match c2pa::create_signer::from_keys(&chain, &private, alg, None) {
                    Ok(signer) => {
                        let credentials = Credentials { signer: Arc::from(signer), cert: cert.to_path_buf() };
                        credentials.self_test().map_err(|e| {
                            anyhow::anyhow!(
                                "{}: C2PA signing with this certificate and key ({}) fails: {e:#} (the certificate must be a v3 end-entity certificate with digitalSignature key use, an extended key use for document signing or email protection, and an organization (O=) in its subject)",
                                cert.display(),
                                key.display()
                            )
                        })?;
                        return Ok(credentials);
                    }
                    Err(e) => last_error = Some(e),
                }
            }
            anyhow::bail!(
                "{} and {}: not a certificate chain and its private key that C2PA can sign with ({}; the key must be PKCS#8 PEM, \"BEGIN PRIVATE KEY\": `openssl pkcs8 -topk8 -nocrypt` converts others)",
                cert.display(),
                key.display(),
                last_error.map(|e| e.to_string()).unwrap_or_default()
            )
        }

        fn self_test(&self) -> anyhow::Result<()> {
            let mut png = std::io::Cursor::new(Vec::new());
            image::GrayImage::new(2, 2).write_to(&mut png, image::ImageFormat::Png)?;
            let bytes = png.into_inner();
            let original = Original { stream: &mut std::io::Cursor::new(bytes.clone()), format: image::ImageFormat::Png, title: "test.png", sha256: "0" };
            let mut out = std::io::Cursor::new(Vec::new());
            self.sign_inner(
                original,
                image::ImageFormat::Png,
                &mut std::io::Cursor::new(bytes),
                &mut out,
                MadeWith { steps: &[], components: Vec::new() },
                true,
            )
        }

        /// Signs the copy read from `copy` (format `format`) into `dest`, with the original as
        /// its parent ingredient and what it was `made` with: a reference photo as a component
        /// ingredient, an action for each step that changed what it shows.
        pub fn sign<R: Read + Seek + Send, S: Read + Seek + Send, W: Read + Write + Seek + Send>(
            &self,
            original: Original<'_, R>,
            format: image::ImageFormat,
            copy: &mut S,
            dest: &mut W,
            made: MadeWith<'_>,
        ) -> anyhow::Result<()> {
            self.sign_inner(original, format, copy, dest, made, false)
        }

        fn sign_inner<R: Read + Seek + Send, S: Read + Seek + Send, W: Read + Write + Seek + Send>(
            &self,
            original: Original<'_, R>,
            format: image::ImageFormat,
            copy: &mut S,
            dest: &mut W,
            made: MadeWith<'_>,
            verify: bool,
        ) -> anyhow::Result<()> {
            let MadeWith { steps, components } = made;
            use serde_json::json;
            let mime = c2pa_mime(format).ok_or_else(|| anyhow::anyhow!("C2PA cannot be embedded in {format:?}"))?;
            let original_mime = c2pa_mime(original.format).ok_or_else(|| anyhow::anyhow!("C2PA cannot read an original in {:?}", original.format))?;
            let mut builder = c2pa::Builder::from_context(context(verify)?).with_definition(json!({
                "claim_generator_info": [{ "name": "hued", "version": crate::VERSION }],
                "title": format!("{} (colorized)", original.title),
            }))?;
            builder.set_intent(c2pa::BuilderIntent::Edit);
            builder.add_ingredient_from_stream(
                json!({
                    "title": original.title,
                    "relationship": "parentOf",
                    "label": "original",
                    "metadata": { "hued:sha256": original.sha256 }
                })
                .to_string(),
                original_mime,
                original.stream,
            )?;
            for (i, mut c) in components.into_iter().enumerate() {
                // A reference in a format C2PA cannot read stays named in the XMP History only.
                let Some(mime) = c2pa_mime(c.format) else { continue };
                let ingredient = json!({
                    "title": c.title,
                    "relationship": "componentOf",
                    "label": format!("reference{i}"),
                    "metadata": { "hued:sha256": c.sha256, "hued:role": "color reference photo" }
                });
                builder.add_ingredient_from_stream(ingredient.to_string(), mime, &mut c.stream)?;
            }
            builder.add_action(json!({ "action": c2pa::assertions::c2pa_action::OPENED, "parameters": { "ingredientIds": ["original"] } }))?;
            // One action per stage that changed what the photo shows, from the pipeline's own
            // record of its stages (a new stage's action comes with its step).
            let agent = json!({ "name": "hued", "version": crate::VERSION });
            for step in steps {
                let done = step.parameters.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ");
                match step.action {
                    Some(StepAction::Colorized) => builder.add_action(json!({
                        "action": c2pa::assertions::c2pa_action::EDITED,
                        "digitalSourceType": crate::base::DIGITAL_SOURCE_TYPE,
                        "softwareAgent": agent,
                        "description": format!("Colorized by a trained model: the colors are its guess, not historical fact ({}: {done})", step.name)
                    }))?,
                    Some(StepAction::Adjusted) => builder.add_action(json!({
                        "action": c2pa::assertions::c2pa_action::COLOR_ADJUSTMENTS,
                        "softwareAgent": agent,
                        "description": format!("{}: {done}", step.name)
                    }))?,
                    None => continue,
                };
            }
            // An io error stays one (a full disk is passing: the photo is retried).
            builder.sign(self.signer.as_ref(), mime, copy, dest).map_err(|e| match e {
                c2pa::Error::IoError(io) => anyhow::Error::from(io),
                other => anyhow::Error::from(other),
            })?;
            Ok(())
        }
    }
}

#[cfg(not(feature = "c2pa"))]
mod signing {
    use super::*;

    /// Content Credentials are not built in (the `c2pa` cargo feature is off).
    #[derive(Debug, Clone, PartialEq)]
    pub enum Credentials {}

    impl Credentials {
        /// Refuses: this build has no C2PA support.
        pub fn load(cert: &Path, _key: &Path) -> anyhow::Result<Credentials> {
            anyhow::bail!(
                "{}: this hued was built without C2PA support (cargo feature `c2pa`): remove [provenance] c2pa_cert and c2pa_key, or rebuild with it",
                cert.display()
            )
        }

        /// Never called: no value of this type exists.
        pub fn sign<R: Read + Seek + Send, S: Read + Seek + Send, W: Read + Write + Seek + Send>(
            &self,
            _original: Original<'_, R>,
            _format: image::ImageFormat,
            _copy: &mut S,
            _dest: &mut W,
            _made: MadeWith<'_>,
        ) -> anyhow::Result<()> {
            match *self {}
        }
    }
}

pub use signing::Credentials;

/// The credentials `[provenance]` names, loaded and tried once (none where it names none).
pub fn from_config(p: &crate::config::ProvenanceConfig) -> anyhow::Result<Option<Credentials>> {
    match (&p.c2pa_cert, &p.c2pa_key) {
        (Some(cert), Some(key)) => Credentials::load(cert, key).map(Some),
        _ => Ok(None),
    }
}
