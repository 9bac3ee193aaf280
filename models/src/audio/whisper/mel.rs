//! Whisper's log-mel front end: 30 s of 16 kHz audio → [80, 3000] features (STFT with a periodic
//! Hann window of 400, hop 160, Slaney mel filterbank over 0–8 kHz, log10, 8-decade floor).

use std::sync::Arc;

use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};

/// Samples in one window (30 s at 16 kHz).
pub const N_SAMPLES: usize = 480_000;
/// FFT size.
pub const N_FFT: usize = 400;
/// Hop between frames.
pub const HOP: usize = 160;
/// Mel bands.
pub const N_MELS: usize = 80;
/// Frames in one window.
pub const N_FRAMES: usize = 3000;
const N_BINS: usize = N_FFT / 2 + 1;
const RATE: f64 = 16_000.0;

/// Computes log-mel features; holds the FFT plan, window and filterbank.
pub struct MelFrontEnd {
    fft: Arc<dyn Fft<f64>>,
    window: Vec<f64>,
    /// Per band: the first bin with a non-zero weight and the weights from there.
    filters: Vec<(usize, Vec<f64>)>,
}

impl Default for MelFrontEnd {
    fn default() -> Self {
        Self::new()
    }
}

impl MelFrontEnd {
    /// Plans the FFT and computes the filterbank.
    pub fn new() -> Self {
        let fft = FftPlanner::new().plan_fft_forward(N_FFT);
        let window = (0..N_FFT)
            .map(|n| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * n as f64 / N_FFT as f64).cos())
            .collect();
        let filters = mel_filters()
            .into_iter()
            .map(|row| {
                let first = row.iter().position(|&w| w > 0.0).unwrap_or(0);
                let last = row.iter().rposition(|&w| w > 0.0).map_or(first, |l| l + 1);
                (first, row[first..last.max(first)].to_vec())
            })
            .collect();
        MelFrontEnd {
            fft,
            window,
            filters,
        }
    }

    /// Features of up to 30 s of 16 kHz audio (zero-padded, or trimmed to 30 s), laid out
    /// band-major: `out[band * 3000 + frame]`.
    pub fn log_mel(&self, samples: &[f32]) -> Vec<f32> {
        let n = samples.len().min(N_SAMPLES);
        let pad = N_FFT / 2;
        // Reflect-padded signal of 480,000 + 400 samples.
        let mut padded = vec![0f64; N_SAMPLES + 2 * pad];
        for (dst, &s) in padded[pad..pad + n].iter_mut().zip(samples) {
            // Non-finite input would poison the whole window through the global maximum.
            *dst = if s.is_finite() { f64::from(s) } else { 0.0 };
        }
        for i in 0..pad {
            padded[pad - 1 - i] = padded[pad + 1 + i];
            padded[pad + N_SAMPLES + i] = padded[pad + N_SAMPLES - 2 - i];
        }
        // Frames that lie wholly in the zero padding after short audio have no energy: skip
        // their FFTs (two thirds of the work for a 10 s clip).
        let end = padded.iter().rposition(|&v| v != 0.0).map_or(0, |i| i + 1);
        let mut mel = vec![0f64; N_MELS * N_FRAMES];
        let mut buf = vec![Complex::new(0.0, 0.0); N_FFT];
        let mut scratch = vec![Complex::new(0.0, 0.0); self.fft.get_inplace_scratch_len()];
        let mut power = [0f64; N_BINS];
        for frame in 0..N_FRAMES {
            let start = frame * HOP;
            if start >= end {
                break;
            }
            for ((b, &x), &w) in buf
                .iter_mut()
                .zip(&padded[start..start + N_FFT])
                .zip(&self.window)
            {
                *b = Complex::new(x * w, 0.0);
            }
            self.fft.process_with_scratch(&mut buf, &mut scratch);
            for (p, c) in power.iter_mut().zip(&buf) {
                *p = c.norm_sqr();
            }
            for (band, (first, weights)) in self.filters.iter().enumerate() {
                let v: f64 = weights
                    .iter()
                    .zip(&power[*first..])
                    .map(|(w, p)| w * p)
                    .sum();
                mel[band * N_FRAMES + frame] = v;
            }
        }
        let mut max = f64::NEG_INFINITY;
        for v in mel.iter_mut() {
            *v = v.max(1e-10).log10();
            max = max.max(*v);
        }
        let floor = max - 8.0;
        mel.into_iter()
            .map(|v| ((v.max(floor) + 4.0) / 4.0) as f32)
            .collect()
    }
}

fn hz_to_mel(f: f64) -> f64 {
    let logstep = 6.4f64.ln() / 27.0;
    if f < 1000.0 {
        f / (200.0 / 3.0)
    } else {
        15.0 + (f / 1000.0).ln() / logstep
    }
}

fn mel_to_hz(m: f64) -> f64 {
    let logstep = 6.4f64.ln() / 27.0;
    if m < 15.0 {
        m * (200.0 / 3.0)
    } else {
        1000.0 * (logstep * (m - 15.0)).exp()
    }
}

/// The 80 × 201 Slaney filterbank (librosa `htk=False`, `norm="slaney"`) over 0–8000 Hz.
pub fn mel_filters() -> Vec<Vec<f64>> {
    let top = hz_to_mel(RATE / 2.0);
    let points: Vec<f64> = (0..N_MELS + 2)
        .map(|i| mel_to_hz(top * i as f64 / (N_MELS + 1) as f64))
        .collect();
    (0..N_MELS)
        .map(|i| {
            let (lo, mid, hi) = (points[i], points[i + 1], points[i + 2]);
            let norm = 2.0 / (hi - lo);
            (0..N_BINS)
                .map(|k| {
                    let f = k as f64 * RATE / N_FFT as f64;
                    let lower = (f - lo) / (mid - lo);
                    let upper = (hi - f) / (hi - mid);
                    lower.min(upper).max(0.0) * norm
                })
                .collect()
        })
        .collect()
}
