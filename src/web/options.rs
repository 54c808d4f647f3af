//! What a patron chooses for one upload, as the page sends it: the query parameters of the
//! upload (`hint=`, `stroke=`, a `[colorize]` key of [`PAGE_SETTINGS`] such as `vividness=`, and
//! the reference photo's `reference_bytes=` and `reference_name=`), read into one typed struct
//! that the job carries to the worker. The one channel for per-upload options: a `[colorize]`
//! setting patrons may choose is its name in [`PAGE_SETTINGS`] (read and checked by the
//! setting's own type and rules); anything else a field here and its parameter in
//! [`UploadOptions::from_query`].

use crate::config::ColorizeOverrides;
use crate::hints::Hint;

/// The `[colorize]` settings a patron may choose for an upload (the station's others stay the
/// station's: its model, its limits, its output format).
pub(crate) const PAGE_SETTINGS: &[&str] = &["vividness"];

/// One upload's options.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct UploadOptions {
    /// Color hints, points then strokes in the order given (none: the model guesses every color).
    pub hints: Vec<Hint>,
    /// The [`PAGE_SETTINGS`] given for this upload (`[colorize]`'s otherwise).
    pub colorize: ColorizeOverrides,
    /// "Colors from a photo": a color reference photo sent with the upload (its first
    /// `reference_bytes` bytes), held in memory with it and dropped with it.
    pub reference: Option<ReferenceUpload>,
}

/// A reference photo sent with an upload: its name and its bytes, until a worker reads it.
#[derive(Clone, Default, PartialEq)]
pub(crate) struct ReferenceUpload {
    /// Its file name, as given (`reference_name=`).
    pub name: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for ReferenceUpload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ReferenceUpload({:?}, {} bytes)", self.name, self.bytes.len())
    }
}

impl UploadOptions {
    /// From the upload's query parameters; those that are not options (`name`, `token`) are
    /// left to the route. A malformed option is an error naming it.
    pub(crate) fn from_query<'a>(params: impl IntoIterator<Item = &'a (String, String)>) -> Result<UploadOptions, String> {
        let mut options = UploadOptions::default();
        for (key, value) in params {
            match key.as_str() {
                "hint" => options.hints.push(value.parse()?),
                "stroke" => options.hints.push(Hint::parse_stroke(value)?),
                // Read with the body: see `routes::upload`.
                "reference_bytes" | "reference_name" => {}
                key if PAGE_SETTINGS.contains(&key) => {
                    // Read as the config file's `key = value` would be (a word without quotes
                    // as a string), by the setting's own type; its range is checked with the
                    // profile (`Profile::with_overrides`).
                    let read = |v: String| toml::from_str::<ColorizeOverrides>(&format!("{key} = {v}"));
                    let one = read(value.trim().to_string())
                        .or_else(|_| read(format!("{:?}", value.trim())))
                        .map_err(|e| format!("{key}={value:?}: {}", e.message().trim()))?;
                    options.colorize = options.colorize.merged(&one);
                }
                _ => {}
            }
        }
        Ok(options)
    }

    /// The `[colorize]` settings these options change, for [`crate::job::Profile::with_overrides`].
    pub(crate) fn overrides(&self) -> ColorizeOverrides {
        self.colorize.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn hints_strokes_and_vividness_are_read_and_the_rest_left() {
        let o = UploadOptions::from_query(&query(&[("name", "a.jpg"), ("hint", "1,2,#ff0000"), ("vividness", "0.5"), ("stroke", "1,1 5,5,#00ff00")])).unwrap();
        assert_eq!(o.hints.len(), 2);
        assert_eq!(o.colorize.vividness, Some(0.5));
        assert_eq!(o.overrides().keys(), vec!["vividness"]);
        assert_eq!(UploadOptions::from_query(&query(&[("token", "x")])).unwrap(), UploadOptions::default());
    }

    #[test]
    fn a_malformed_option_names_itself_and_only_page_settings_are_read() {
        assert!(UploadOptions::from_query(&query(&[("vividness", "loud")])).unwrap_err().contains("vividness"));
        assert!(UploadOptions::from_query(&query(&[("hint", "1,2")])).is_err());
        // The station's own settings are not the patron's to change.
        let o = UploadOptions::from_query(&query(&[("model", "/etc/shadow"), ("max_megapixels", "9999"), ("suffix", "x")])).unwrap();
        assert_eq!(o, UploadOptions::default());
    }
}
