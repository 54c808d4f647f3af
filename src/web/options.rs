//! What a patron chooses for one upload, as the page sends it: the query parameters of the
//! upload (`hint=`, `stroke=`, `vividness=`), read into one typed struct that the job carries to
//! the worker. The one channel for per-upload options: a new one is a field here, its
//! parameter in [`UploadOptions::from_query`] and, where it is a `[colorize]` setting, its line
//! in [`UploadOptions::overrides`].

use crate::config::ColorizeOverrides;
use crate::hints::Hint;

/// One upload's options.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UploadOptions {
    /// Color hints, points then strokes in the order given (none: the model guesses every color).
    pub hints: Vec<Hint>,
    /// Color strength for this upload (`[colorize] vividness` otherwise).
    pub vividness: Option<f64>,
    /// "Colors from a photo": a color reference photo sent with the upload (its first
    /// `reference_bytes` bytes), held in memory with it and dropped with it.
    pub reference: Option<ReferenceUpload>,
}

/// A reference photo sent with an upload: its name and its bytes, until a worker reads it.
#[derive(Clone, Default, PartialEq)]
pub struct ReferenceUpload {
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
    pub fn from_query<'a>(params: impl IntoIterator<Item = &'a (String, String)>) -> Result<UploadOptions, String> {
        let mut options = UploadOptions::default();
        for (key, value) in params {
            match key.as_str() {
                "hint" => options.hints.push(value.parse()?),
                "stroke" => options.hints.push(Hint::parse_stroke(value)?),
                // Read with the body: see `routes::upload`.
                "reference_bytes" | "reference_name" => {}
                "vividness" => {
                    let v: f64 = value.trim().parse().map_err(|_| format!("vividness={value:?}: expected a number from 0 to 4"))?;
                    options.vividness = Some(v);
                }
                _ => {}
            }
        }
        Ok(options)
    }

    /// The `[colorize]` settings these options change, for [`crate::job::Profile::with_overrides`].
    pub fn overrides(&self) -> ColorizeOverrides {
        ColorizeOverrides { vividness: self.vividness, ..Default::default() }
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
        assert_eq!(o.vividness, Some(0.5));
        assert_eq!(o.overrides().keys(), vec!["vividness"]);
        assert_eq!(UploadOptions::from_query(&query(&[("token", "x")])).unwrap(), UploadOptions::default());
    }

    #[test]
    fn a_malformed_option_names_itself() {
        assert!(UploadOptions::from_query(&query(&[("vividness", "loud")])).unwrap_err().contains("vividness"));
        assert!(UploadOptions::from_query(&query(&[("hint", "1,2")])).is_err());
    }
}
