//! stream_facts: what a file says of its streams beside their packets
//! (programs of a multiplex, alpha, display rotation), read through
//! libavformat's and libavutil's own structures for the probe.

use ffmpeg_next as ff;

/// The programs of a multiplex (a TS with more than one), each with its
/// streams; empty for a file of one program.
pub(crate) fn programs(input: &ff::format::context::Input) -> Vec<(i32, Vec<usize>)> {
    // SAFETY: the context, its program array and each program's stream
    // index array are valid for the input's lifetime, with the counts
    // libavformat keeps beside them.
    unsafe {
        let ctx = input.as_ptr();
        if (*ctx).nb_programs < 2 {
            return Vec::new();
        }
        (0..(*ctx).nb_programs as usize)
            .map(|i| {
                let p = *(*ctx).programs.add(i);
                let streams = (0..(*p).nb_stream_indexes as usize).map(|k| *(*p).stream_index.add(k) as usize);
                ((*p).id, streams.collect())
            })
            .collect()
    }
}

/// The id of a file's only program, if it has exactly one.
pub(crate) fn only_program(input: &ff::format::context::Input) -> Option<i32> {
    // SAFETY: as in `programs`.
    unsafe {
        let ctx = input.as_ptr();
        ((*ctx).nb_programs == 1).then(|| (**(*ctx).programs).id)
    }
}

/// Whether pixels of `format` carry alpha.
pub(crate) fn pixel_has_alpha(format: ff::format::Pixel) -> bool {
    // SAFETY: av_pix_fmt_desc_get returns null or a pointer to a static
    // descriptor.
    unsafe {
        let desc = ff::ffi::av_pix_fmt_desc_get(format.into());
        !desc.is_null() && (*desc).flags & ff::ffi::AV_PIX_FMT_FLAG_ALPHA as u64 != 0
    }
}

/// The rotation (degrees) of the stream's display matrix, if any.
pub(crate) fn display_rotation(stream: &ff::format::stream::Stream) -> Option<f64> {
    stream.side_data().find_map(|sd| {
        if sd.kind() != ff::codec::packet::side_data::Type::DisplayMatrix || sd.data().len() < 36 {
            return None;
        }
        // SAFETY: the side data is a 3x3 int32 display matrix (checked size).
        let angle = unsafe { ff::ffi::av_display_rotation_get(sd.data().as_ptr().cast()) };
        (!angle.is_nan()).then_some(angle)
    })
}
