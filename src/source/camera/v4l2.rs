//! The V4L2 frame source (UVC document cameras), through the `v4l` crate.

use super::frame::{Frame, PixelFormat};
use super::FrameSource;
use std::io;
use std::path::{Path, PathBuf};
use v4l::buffer::Type;
use v4l::io::traits::CaptureStream;
use v4l::video::Capture;
use v4l::{Device, FourCC};

/// An open camera, streaming.
pub struct V4lCamera {
    device: PathBuf,
    format: PixelFormat,
    width: u32,
    height: u32,
    stream: v4l::io::mmap::Stream<'static>,
    // Kept open for the stream's lifetime.
    _dev: Device,
}

/// Why a camera could not be used: each variant's message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum CameraError {
    /// No such device node.
    #[error("camera {0} not found (not plugged in?)")]
    Absent(PathBuf),
    /// Another program holds it.
    #[error("camera {0} is busy: another program is using it")]
    Busy(PathBuf),
    /// None of the wanted formats is offered.
    #[error("camera {device} offers none of the formats {wanted}; it offers: {offered}")]
    Format {
        /// The camera.
        device: PathBuf,
        /// What the config asked for.
        wanted: String,
        /// What it has.
        offered: String,
    },
    /// Any other I/O error.
    #[error("camera {0}: {1}")]
    Io(PathBuf, io::Error),
}

impl CameraError {
    fn from_io(device: &Path, e: io::Error) -> CameraError {
        match e.raw_os_error() {
            Some(libc_enoent) if libc_enoent == 2 || libc_enoent == 19 => CameraError::Absent(device.to_path_buf()), // ENOENT, ENODEV
            Some(16) => CameraError::Busy(device.to_path_buf()),                                                     // EBUSY
            _ => CameraError::Io(device.to_path_buf(), e),
        }
    }

    /// True when retrying later may help (unplugged, busy).
    pub fn is_transient(&self) -> bool {
        !matches!(self, CameraError::Format { .. })
    }
}

fn fourcc_name(f: &FourCC) -> String {
    f.str().map(str::to_string).unwrap_or_else(|_| format!("{:?}", f.repr))
}

/// One line per device: its formats and frame sizes (for `hued camera list`).
pub fn describe(device: &Path) -> Result<String, CameraError> {
    let dev = Device::with_path(device).map_err(|e| CameraError::from_io(device, e))?;
    let caps = dev.query_caps().map_err(|e| CameraError::from_io(device, e))?;
    let mut out = format!("{}: {} ({})\n", device.display(), caps.card, caps.driver);
    for f in dev.enum_formats().map_err(|e| CameraError::from_io(device, e))? {
        let sizes: Vec<String> = dev
            .enum_framesizes(f.fourcc)
            .unwrap_or_default()
            .into_iter()
            .flat_map(|s| s.size.to_discrete())
            .map(|d| format!("{}x{}", d.width, d.height))
            .collect();
        out.push_str(&format!("  {} ({}): {}\n", fourcc_name(&f.fourcc), f.description, sizes.join(" ")));
    }
    Ok(out)
}

impl V4lCamera {
    /// Opens `device` in the first of `formats` it offers, at (about) `width` x `height`.
    pub fn open(device: &Path, formats: &[PixelFormat], width: u32, height: u32) -> Result<V4lCamera, CameraError> {
        let dev = Device::with_path(device).map_err(|e| CameraError::from_io(device, e))?;
        let offered = dev.enum_formats().map_err(|e| CameraError::from_io(device, e))?;
        let chosen = formats.iter().find(|f| offered.iter().any(|o| o.fourcc == FourCC::new(&f.fourcc())));
        let Some(&format) = chosen else {
            return Err(CameraError::Format {
                device: device.to_path_buf(),
                wanted: formats.iter().map(|f| String::from_utf8_lossy(&f.fourcc()).into_owned()).collect::<Vec<_>>().join(", "),
                offered: offered.iter().map(|o| format!("{} ({})", fourcc_name(&o.fourcc), o.description)).collect::<Vec<_>>().join(", "),
            });
        };
        let mut fmt = dev.format().map_err(|e| CameraError::from_io(device, e))?;
        fmt.fourcc = FourCC::new(&format.fourcc());
        fmt.width = width;
        fmt.height = height;
        let fmt = dev.set_format(&fmt).map_err(|e| CameraError::from_io(device, e))?;
        let mut stream = v4l::io::mmap::Stream::with_buffers(&dev, Type::VideoCapture, 4).map_err(|e| CameraError::from_io(device, e))?;
        stream.set_timeout(std::time::Duration::from_secs(5));
        Ok(V4lCamera { device: device.to_path_buf(), format, width: fmt.width, height: fmt.height, stream, _dev: dev })
    }
}

impl FrameSource for V4lCamera {
    fn next_frame(&mut self) -> anyhow::Result<Frame> {
        let (buf, meta) = self.stream.next().map_err(|e| CameraError::from_io(&self.device, e))?;
        let used = (meta.bytesused as usize).min(buf.len());
        let used = if used == 0 { buf.len() } else { used };
        Ok(Frame { format: self.format, width: self.width, height: self.height, data: buf[..used].to_vec() })
    }
}
