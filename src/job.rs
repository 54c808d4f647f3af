//! One photo to colorize: where it is, where its copy goes, and the [`Profile`] it is
//! colorized with: the settings resolved from the config, a watch and the command line or the
//! page, together with what they name, loaded (the model, the signing credentials).

use crate::base::{compare_path, output_path, OutputTarget};
use crate::config::{BadValue, ColorizeConfig, ColorizeOverrides, Config, WatchConfig};
use crate::credentials::Credentials;
use crate::hints::Hint;
use crate::model::{resolve_manifest, Model, Precision};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Levels correction: the mode and the stretch's black and white percentiles.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Levels {
    /// Auto (faded prints only), on (always), off.
    pub mode: crate::config::LevelsMode,
    /// Black point: this percentage of pixels may become pure black.
    pub low_percent: f32,
    /// White point: pixels above this percentile become pure white.
    pub high_percent: f32,
}

/// The per-photo settings, resolved from the config and the command line.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Chroma gain.
    pub vividness: f32,
    /// Levels correction: when, and at which percentiles.
    pub levels: Levels,
    /// Skip photos already in color.
    pub skip_color: bool,
    /// Pixel limit, in megapixels.
    pub max_megapixels: f64,
    /// JPEG quality.
    pub jpeg_quality: u8,
    /// PNG and TIFF compression.
    pub compression: crate::config::Compression,
    /// Model input long side (0 = manifest).
    pub model_long_side: u32,
    /// Also write a side-by-side comparison JPEG.
    pub compare: bool,
    /// Colorize photos already in color too, and redo copies that are up to date.
    pub force: bool,
    /// Sign each copy's Content Credentials with these (`[provenance]`); none: no manifest.
    pub credentials: Option<crate::credentials::Credentials>,
}

impl Settings {
    /// The settings a `[colorize]` section gives.
    pub fn from_config(c: &ColorizeConfig) -> Settings {
        Settings {
            vividness: c.vividness as f32,
            levels: Levels { mode: c.levels, low_percent: c.levels_low_percent as f32, high_percent: c.levels_high_percent as f32 },
            skip_color: c.skip_color,
            max_megapixels: c.max_megapixels,
            jpeg_quality: c.jpeg_quality,
            compression: c.compression,
            model_long_side: c.model_long_side,
            compare: false,
            force: false,
            credentials: None,
        }
    }
}

/// How a photo is colorized, resolved once for a run, a watch, the cameras or the page, and
/// shared by its jobs: the `[colorize]` section with the overrides applied, the per-photo
/// settings made of it, and the model it names.
pub struct Profile {
    /// The `[colorize]` settings in effect (the config's section, a watch's and the flags'
    /// overrides applied), validated.
    pub colorize: ColorizeConfig,
    /// The per-photo settings made of them (credentials loaded).
    pub settings: Settings,
    /// The model `colorize.model` names (the shipped one when none), loaded.
    pub model: Arc<Model>,
}

/// Why a profile could not be resolved: a value out of range (a flag's or the config's), or
/// what it names could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// A value out of range, with its key.
    #[error("{0}")]
    Bad(BadValue),
    /// The model, the credentials or the reference could not be loaded.
    #[error("{0:#}")]
    Load(anyhow::Error),
}

/// What resolving profiles has loaded, shared by every profile of one config: each model
/// once per manifest and precision, the credentials once. A reload starts a new one (the
/// files may have been replaced).
#[derive(Default)]
pub struct Loaded {
    models: HashMap<(PathBuf, Precision), Arc<Model>>,
    credentials: Option<Option<Credentials>>,
}

impl Loaded {
    /// The model `manifest` names (None: the shipped one) at `precision`, loaded once.
    pub fn model(&mut self, manifest: Option<&std::path::Path>, precision: Precision) -> anyhow::Result<Arc<Model>> {
        let key = (resolve_manifest(manifest)?, precision);
        if let Some(m) = self.models.get(&key) {
            return Ok(m.clone());
        }
        let m = Arc::new(Model::load_with(&key.0, precision)?);
        crate::metrics::global().set_model(&m.manifest.name, &m.sha256);
        self.models.insert(key, m.clone());
        Ok(m)
    }

    fn credentials(&mut self, config: &Config) -> anyhow::Result<Option<Credentials>> {
        if self.credentials.is_none() {
            self.credentials = Some(crate::credentials::from_config(&config.provenance)?);
        }
        Ok(self.credentials.clone().flatten())
    }
}

impl Profile {
    /// The one resolver: `config`'s `[colorize]`, then `watch`'s overrides, then `overrides`
    /// (the command line's flags, an upload's options), validated, with the model and the
    /// credentials they name loaded through `loaded`.
    pub fn resolve(config: &Config, watch: Option<&WatchConfig>, overrides: &ColorizeOverrides, loaded: &mut Loaded) -> Result<Profile, ResolveError> {
        let base = match watch {
            Some(w) => w.colorize_settings(&config.colorize),
            None => config.colorize.clone(),
        };
        let colorize = base.apply(overrides);
        colorize.validate().map_err(ResolveError::Bad)?;
        let model = loaded.model(colorize.model.as_deref(), colorize.precision).map_err(ResolveError::Load)?;
        let credentials = loaded.credentials(config).map_err(ResolveError::Load)?;
        if let Some(path) = &colorize.reference {
            // Read now, so that a wrong path or a file that is no photo stops the run or the
            // (re)load with its reason; the jobs read it again only if it changes.
            if !model.has_hints() {
                return Err(ResolveError::Load(anyhow::anyhow!("reference {}: model {} takes no color hints", path.display(), model.manifest.name)));
            }
            crate::reference::load_cached(path, colorize.max_megapixels).map_err(|e| ResolveError::Load(e.into()))?;
        }
        let settings = Settings { credentials, ..Settings::from_config(&colorize) };
        Ok(Profile { colorize, settings, model })
    }

    /// This profile with `o` on top (an upload's options), validated. What `o` may change is a
    /// per-photo setting: an override that would need another model (`model`, `precision`) or
    /// another process (`threads`) is refused.
    pub fn with_overrides(&self, o: &ColorizeOverrides) -> Result<Profile, BadValue> {
        let colorize = self.colorize.apply(o);
        colorize.validate()?;
        if let Some(key) = ["model", "precision", "threads", "reference"].into_iter().find(|k| o.keys().contains(k)) {
            return Err(BadValue { key, value: "(given)".into(), expected: "not set per photo".into() });
        }
        let s = &self.settings;
        let settings = Settings { credentials: s.credentials.clone(), compare: s.compare, force: s.force, ..Settings::from_config(&colorize) };
        Ok(Profile { colorize, settings, model: self.model.clone() })
    }

    /// This profile with other per-photo settings (`hued colorize --force`, `--compare`).
    pub fn with_settings(self, settings: Settings) -> Profile {
        Profile { settings, ..self }
    }
}

/// The profile in effect for a part that outlives a reload (the kiosk page): each use takes
/// the current one, and a reload sets the next.
#[derive(Clone)]
pub struct CurrentProfile(Arc<std::sync::RwLock<Arc<Profile>>>);

impl CurrentProfile {
    /// Starts with `profile`.
    pub fn new(profile: Arc<Profile>) -> CurrentProfile {
        CurrentProfile(Arc::new(std::sync::RwLock::new(profile)))
    }

    /// The profile in effect now.
    pub fn get(&self) -> Arc<Profile> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// From now on, `profile`.
    pub fn set(&self, profile: Arc<Profile>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = profile;
    }
}

impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profile").field("colorize", &self.colorize).field("model", &self.model.manifest.name).finish_non_exhaustive()
    }
}

/// One photo to colorize.
#[derive(Debug, Clone)]
pub struct Job {
    /// The original; only ever opened for reading.
    pub input: PathBuf,
    /// The colorized copy.
    pub output: PathBuf,
    /// The comparison image, when asked for.
    pub compare: Option<PathBuf>,
    /// How: the settings and the model.
    pub profile: Arc<Profile>,
    /// The user's color hints for this photo (none: the model guesses every color).
    pub hints: Vec<Hint>,
    /// A reference photo of its own (its sidecar's), instead of the profile's.
    pub reference: Option<PathBuf>,
}

impl Job {
    /// A job for `input`, its output named by `target` and the profile's suffix.
    pub fn new(input: PathBuf, target: &OutputTarget, profile: Arc<Profile>) -> Job {
        let output = output_path(&input, target, &profile.colorize.suffix);
        let compare = profile.settings.compare.then(|| compare_path(&output, &input));
        Job { input, output, compare, profile, hints: Vec::new(), reference: None }
    }

    /// The reference photo its colors are guided by: its own, else its profile's.
    pub fn reference(&self) -> Option<&Path> {
        self.reference.as_deref().or(self.profile.colorize.reference.as_deref())
    }

    /// The files its copy is made from: the original, its sidecar, its reference. A copy older
    /// than any of them is out of date.
    pub fn depends_on(&self) -> Vec<PathBuf> {
        inputs_of(&self.input, self.reference().map(Path::to_path_buf))
    }

    /// The per-photo settings.
    pub fn settings(&self) -> &Settings {
        &self.profile.settings
    }

    /// Gives it what its sidecar says ([`photo_extras`]).
    pub fn with_extras(self, extras: PhotoExtras) -> Job {
        Job { hints: extras.hints, reference: extras.reference, ..self }
    }
}

/// The files a copy of `image` is made from: it, its sidecar if any, `reference` if any.
pub fn inputs_of(image: &Path, reference: Option<PathBuf>) -> Vec<PathBuf> {
    std::iter::once(image.to_path_buf()).chain(crate::hints::find_sidecar(image)).chain(reference).collect()
}

/// What a photo gets besides its profile: the hints (given ones, else its sidecar's) and its
/// sidecar's reference photo; with a warning to log (a sidecar its model cannot use).
#[derive(Debug, Default)]
pub struct PhotoExtras {
    /// Its hints.
    pub hints: Vec<Hint>,
    /// Its own reference photo.
    pub reference: Option<PathBuf>,
    /// Something to tell, not an error.
    pub warning: Option<String>,
}

/// The one rule for a photo's extras, for `hued colorize` and the daemon: what the command line
/// gives (`given` hints, a `given_reference`) wins over the sidecar; the sidecar's reference
/// over the config's. An error is the reason to report for the photo (a sidecar that does not
/// parse).
pub fn photo_extras(image: &Path, profile: &Profile, given: &[Hint], given_reference: bool) -> Result<PhotoExtras, String> {
    let model = &profile.model;
    let (sidecar, warning) = crate::hints::sidecar_for(image, model.has_hints(), &model.manifest.name)?;
    let hints = if given.is_empty() { sidecar.hints } else { given.to_vec() };
    let reference = if given_reference { None } else { sidecar.reference };
    Ok(PhotoExtras { hints, reference, warning })
}
