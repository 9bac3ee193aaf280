//! Band-limited resampling (rubato's FFT resampler: an anti-aliasing low-pass applied in the
//! frequency domain), used to bring decoded audio to the 16 kHz the speech models expect.

use rubato::{FftFixedInOut, Resampler};

use super::decode::MAX_SAMPLE_RATE;
use super::AudioError;

/// The rate of every speech model here.
pub const SAMPLE_RATE_16K: u32 = 16_000;
/// Input frames per FFT block (rubato rounds it to a multiple of the rates' ratio).
const CHUNK: usize = 1024;

/// Resamples mono audio to 16 kHz.
pub fn to_16k(samples: &[f32], rate: u32) -> Result<Vec<f32>, AudioError> {
    resample(samples, rate, SAMPLE_RATE_16K)
}

/// Resamples mono audio from `from` Hz to `to` Hz. The output has `ceil(len · to / from)`
/// samples, aligned with the input (the resampler's delay is removed).
pub fn resample(samples: &[f32], from: u32, to: u32) -> Result<Vec<f32>, AudioError> {
    for rate in [from, to] {
        if rate == 0 || rate > MAX_SAMPLE_RATE {
            return Err(AudioError::SampleRate { rate });
        }
    }
    if from == to || samples.is_empty() {
        return Ok(samples.to_vec());
    }
    let err = |message: String| AudioError::Resample { message };
    // An even block length keeps the resampler's delay a whole number of input samples, so
    // the output is not shifted by half an input sample.
    let block = (from / gcd(from, to)) as usize;
    let blocks = CHUNK.div_ceil(block).next_multiple_of(2);
    let mut resampler = FftFixedInOut::<f32>::new(from as usize, to as usize, blocks * block, 1)
        .map_err(|e| err(e.to_string()))?;
    let wanted = (samples.len() as u64 * u64::from(to)).div_ceil(u64::from(from)) as usize;
    let delay = resampler.output_delay();
    let chunk_in = resampler.input_frames_next();
    let chunk_out = resampler.output_frames_next();
    let mut out = Vec::with_capacity(wanted + delay + chunk_out);
    let mut input = vec![0f32; chunk_in];
    let mut output = vec![vec![0f32; chunk_out]; 1];
    let mut pos = 0usize;
    while out.len() < wanted + delay {
        let end = (pos + chunk_in).min(samples.len());
        let take = end.saturating_sub(pos);
        input[..take].copy_from_slice(&samples[pos.min(end)..end]);
        input[take..].fill(0.0);
        pos = end;
        let (_, produced) = resampler
            .process_into_buffer(&[&input[..]], &mut output, None)
            .map_err(|e| err(e.to_string()))?;
        out.extend_from_slice(&output[0][..produced]);
    }
    out.drain(..delay.min(out.len()));
    out.truncate(wanted);
    Ok(out)
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}
