//! picture: the conversions between the source's coded pixels and the
//! model's RGB, done with the source's own matrix and range both ways, and
//! the deinterlacer for sources coded as fields. swscale's default is
//! BT.601 limited range whatever the file says, which shifted every HD
//! colour (a BT.709 green came back at G=218 instead of 254).

use ffmpeg_next as ff;
use stylize_engine::picture::Picture;

/// A converter from `from` to `to` at one size, with `picture`'s matrix and
/// range on its YUV side (RGB is always full range).
pub fn scaler(
    picture: &Picture,
    from: ff::format::Pixel,
    to: ff::format::Pixel,
    (width, height): (u32, u32),
) -> Result<ff::software::scaling::Context, String> {
    // The ffmpeg CLI's own flags: what users compare against.
    let flags = ff::software::scaling::Flags::BICUBIC;
    let mut ctx = ff::software::scaling::Context::get(from, width, height, to, width, height, flags)
        .map_err(|e| format!("no conversion from {from:?} to {to:?}: {e}"))?;
    let matrix = picture.effective_matrix(width, height);
    let yuv_full = i32::from(picture.full_range() || is_jpeg(from) || is_jpeg(to));
    let from_rgb = is_rgb(from);
    // SAFETY: the context is valid; sws_getCoefficients returns a static
    // table for any value (BT.601's for unknown ones). The tables are only
    // read.
    unsafe {
        let table = ff::ffi::sws_getCoefficients(matrix);
        let (src_range, dst_range) = if from_rgb { (1, yuv_full) } else { (yuv_full, 1) };
        ff::ffi::sws_setColorspaceDetails(ctx.as_mut_ptr(), table, src_range, table, dst_range, 0, 1 << 16, 1 << 16);
    }
    Ok(ctx)
}

fn is_jpeg(p: ff::format::Pixel) -> bool {
    matches!(p, ff::format::Pixel::YUVJ420P | ff::format::Pixel::YUVJ422P | ff::format::Pixel::YUVJ444P)
}

fn is_rgb(p: ff::format::Pixel) -> bool {
    matches!(p, ff::format::Pixel::RGB24 | ff::format::Pixel::RGB48LE | ff::format::Pixel::RGBA)
}

/// FFmpeg's bwdif deinterlacer, one output frame per input frame (the
/// source's frame rate and count), field order read from each frame.
pub(crate) struct Deinterlacer {
    graph: ff::filter::Graph,
}

impl Deinterlacer {
    pub(crate) fn new(
        format: ff::format::Pixel,
        (width, height): (u32, u32),
        tb: ff::Rational,
    ) -> Result<Self, String> {
        let mut graph = ff::filter::Graph::new();
        let pix: ff::ffi::AVPixelFormat = format.into();
        let args = format!(
            "video_size={width}x{height}:pix_fmt={}:time_base={}/{}:pixel_aspect=1/1",
            pix as i32,
            tb.numerator(),
            tb.denominator().max(1)
        );
        let e = |e: ff::Error| format!("deinterlacer: {e}");
        let buffer = ff::filter::find("buffer").ok_or("FFmpeg has no buffer filter")?;
        let sink = ff::filter::find("buffersink").ok_or("FFmpeg has no buffersink filter")?;
        graph.add(&buffer, "in", &args).map_err(e)?;
        graph.add(&sink, "out", "").map_err(e)?;
        graph
            .output("in", 0)
            .and_then(|p| p.input("out", 0))
            .and_then(|p| p.parse("bwdif=mode=send_frame:parity=auto:deint=all"))
            .map_err(e)?;
        graph.validate().map_err(e)?;
        Ok(Deinterlacer { graph })
    }

    /// Feed one decoded frame, or `None` at the end of the input.
    pub(crate) fn push(&mut self, frame: Option<&ff::frame::Video>) -> Result<(), String> {
        let mut src = self.graph.get("in").ok_or("deinterlacer: no input")?;
        let mut src = src.source();
        match frame {
            Some(f) => src.add(f),
            None => src.flush(),
        }
        .map_err(|e| format!("deinterlacer: {e}"))
    }

    /// The time base of the frames out: bwdif halves the input's (it could
    /// send one frame per field).
    pub(crate) fn time_base(&mut self) -> ff::Rational {
        self.graph.get("out").map_or(ff::Rational::new(1, 1), |mut sink| sink.sink().time_base())
    }

    /// The next deinterlaced frame, if one is ready.
    pub(crate) fn pull(&mut self, out: &mut ff::frame::Video) -> bool {
        match self.graph.get("out") {
            Some(mut sink) => sink.sink().frame(out).is_ok(),
            None => false,
        }
    }
}

/// Tag a codec context (encoder) with the picture's colour description,
/// so players read the output as they read the source.
///
/// # Safety
/// `ctx` must point to a valid codec context that is not opened yet.
pub(crate) unsafe fn tag_codec_context(ctx: *mut ff::ffi::AVCodecContext, picture: &Picture, matrix: i32) {
    // SAFETY: the caller passes a valid, not yet opened codec context; the
    // values are H.273 code points, which these enums share (written as
    // plain integers: no Rust enum value is ever made of them).
    unsafe {
        *std::ptr::addr_of_mut!((*ctx).colorspace).cast::<i32>() = matrix;
        *std::ptr::addr_of_mut!((*ctx).color_primaries).cast::<i32>() = picture.primaries;
        *std::ptr::addr_of_mut!((*ctx).color_trc).cast::<i32>() = picture.transfer;
        (*ctx).color_range = match picture.range {
            stylize_engine::picture::Range::Unspecified => ff::ffi::AVColorRange::AVCOL_RANGE_UNSPECIFIED,
            stylize_engine::picture::Range::Limited => ff::ffi::AVColorRange::AVCOL_RANGE_MPEG,
            stylize_engine::picture::Range::Full => ff::ffi::AVColorRange::AVCOL_RANGE_JPEG,
        };
        if let Some(sar) = picture.anamorphic() {
            (*ctx).sample_aspect_ratio = ff::ffi::AVRational { num: sar.num, den: sar.den };
        }
    }
}
