//! The evaluation set, built by the eval itself into its own folder (never the test fixtures):
//! rendered pages of text at several fonts, sizes and skews; sentences spoken by the Piper
//! voice at several speeds, through several codecs and with noise; long texts to summarise;
//! short factual questions; and openly licensed photos from scikit-image's wheel.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{ensure, Context, Result};
use tessera_models::catalog::Catalog;
use tessera_models::runtime::SessionOptions;
use tessera_models::speech::{encode, AudioFormat, PiperVoice, Speech, SynthOptions};

/// The page every rendering shows: six lines of prose.
pub const PAGE: [&str; 6] = [
    "Region-based segmentation groups pixels into regions",
    "whose grey values share a common histogram of intensities.",
    "Edges mark the places where those regions meet,",
    "and a threshold chosen from the histogram of grey values",
    "separates the objects from the background of the page.",
    "Each region is then labelled and measured in turn.",
];

const FONTS: [&str; 3] = ["DejaVuSans", "DejaVuSerif", "DejaVuSansMono"];
const SIZES: [u32; 3] = [22, 30, 44];
const SKEWS: [f32; 3] = [0.0, 2.0, 5.0];

/// A rendered page and how it was made.
pub struct Page {
    pub path: PathBuf,
    pub condition: String,
}

/// Renders the page in every font, size and skew.
pub fn pages(dir: &Path) -> Result<Vec<Page>> {
    let text = dir.join("page.txt");
    std::fs::write(&text, PAGE.join("\n"))?;
    let longest = PAGE.iter().map(|l| l.chars().count()).max().unwrap_or(0) as f32;
    let mut out = Vec::new();
    for font in FONTS {
        for size in SIZES {
            for skew in SKEWS {
                let path = dir.join(format!("page-{font}-{size}-{skew}.png"));
                let width = (longest * size as f32 * 0.62) as u32 + 80;
                let height = (PAGE.len() as f32 * size as f32 * 1.6) as u32 + 80;
                if !path.exists() {
                    let rad = skew.to_radians();
                    let filter = format!(
                        "drawtext=fontfile=/usr/share/fonts/truetype/dejavu/{font}.ttf:\
                         textfile={}:fontsize={size}:fontcolor=black:x=40:y=40:\
                         line_spacing={},rotate={rad}:fillcolor=white:\
                         ow=rotw({rad}):oh=roth({rad})",
                        text.display(),
                        size * 6 / 10
                    );
                    ffmpeg(&[
                        "-f",
                        "lavfi",
                        "-i",
                        &format!("color=c=white:s={width}x{height}"),
                        "-vf",
                        &filter,
                        "-frames:v",
                        "1",
                        path.to_str().context("path")?,
                    ])?;
                }
                out.push(Page {
                    path,
                    condition: format!("{font} {size}px skew {skew}°"),
                });
            }
        }
    }
    Ok(out)
}

/// Sentences for the speech recogniser.
pub const SENTENCES: [&str; 5] = [
    "The museum opens at nine every morning and closes at six in the evening.",
    "Please bring your passport and two photos to the front desk on Monday.",
    "The train to the coast leaves from platform four at half past ten.",
    "We planted tomatoes, beans and a row of sunflowers behind the old shed.",
    "Turn left at the bakery, then walk past the park until you see the bridge.",
];

/// The ways each sentence is heard.
pub const CONDITIONS: [&str; 6] = ["wav", "slow", "fast", "mp3-64k", "aac-48k", "noisy"];

/// A spoken sentence in one condition.
pub struct Clip {
    pub path: PathBuf,
    pub condition: &'static str,
    pub truth: &'static str,
    pub seconds: f64,
}

/// Speaks every sentence in every condition.
pub fn clips(dir: &Path) -> Result<Vec<Clip>> {
    let voice_dir = Catalog::shipped()
        .require("piper-en-us-joe-medium")
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut voice = PiperVoice::load(&voice_dir, &SessionOptions::default())?;
    let mut out = Vec::new();
    for (i, truth) in SENTENCES.iter().enumerate() {
        for condition in CONDITIONS {
            let speed = match condition {
                "slow" => 0.8,
                "fast" => 1.25,
                _ => 1.0,
            };
            let speech = voice.synthesize(
                truth,
                &SynthOptions {
                    speed,
                    ..SynthOptions::default()
                },
            )?;
            let seconds = seconds_of(&speech)?;
            let wav = dir.join(format!("s{i}-{condition}.wav"));
            std::fs::write(&wav, encode(&speech, AudioFormat::Wav)?)?;
            let path = match condition {
                "mp3-64k" => convert(&wav, "mp3", &["-c:a", "libmp3lame", "-b:a", "64k"])?,
                "aac-48k" => convert(&wav, "m4a", &["-c:a", "aac", "-b:a", "48k"])?,
                "noisy" => noisy(&wav)?,
                _ => wav,
            };
            out.push(Clip {
                path,
                condition,
                truth,
                seconds,
            });
        }
    }
    Ok(out)
}

fn seconds_of(speech: &Speech) -> Result<f64> {
    ensure!(speech.sample_rate > 0, "the voice gave no sample rate");
    Ok(speech.samples.len() as f64 / f64::from(speech.sample_rate))
}

fn convert(wav: &Path, ext: &str, codec: &[&str]) -> Result<PathBuf> {
    let out = wav.with_extension(ext);
    let mut args = vec!["-i", wav.to_str().context("path")?];
    args.extend_from_slice(codec);
    args.push(out.to_str().context("path")?);
    ffmpeg(&args)?;
    Ok(out)
}

/// The clip with white noise about 15 dB below the voice.
fn noisy(wav: &Path) -> Result<PathBuf> {
    let out = wav.with_file_name(format!(
        "{}-mixed.wav",
        wav.file_stem().and_then(|s| s.to_str()).unwrap_or("clip")
    ));
    ffmpeg(&[
        "-i",
        wav.to_str().context("path")?,
        "-f",
        "lavfi",
        "-i",
        "anoisesrc=color=white:amplitude=0.03:seed=7",
        "-filter_complex",
        "[0:a][1:a]amix=inputs=2:duration=first:normalize=0",
        out.to_str().context("path")?,
    ])?;
    Ok(out)
}

/// Long texts for the summariser (each well over the length that gets a summary).
pub const TEXTS: [&str; 3] = [
    "The town library reopened on Monday after a long renovation. The library now has a \
     reading garden, a room for children, and a workshop where visitors can repair books. \
     The renovation took two years because the roof of the old library had to be replaced \
     and the walls were found to be damp. The council paid for the roof, and a group of \
     volunteers raised money for the garden. On the first day more than four hundred \
     visitors came. Many of them signed up for the workshop, where a bookbinder shows how to \
     sew loose pages back into their covers. The library will stay open late on Thursdays, \
     and the garden will hold readings every month during the summer. The librarians hope \
     the workshop will keep old books in use instead of in the recycling bin.",
    "Tomatoes grow best in a sunny place with rich soil and steady water. Gardeners start the \
     seeds indoors about six weeks before the last frost, then move the young plants outside \
     when the nights are warm. Each plant needs a stake or a cage, because the stems bend \
     under the weight of the fruit. Water the soil, not the leaves, since wet leaves invite \
     disease. A layer of straw keeps the soil moist and stops weeds. Pinch off the small \
     shoots that grow between the stem and the branches, so the plant spends its strength on \
     fruit. Pick the tomatoes when they are fully red and slightly soft. Tomatoes left on the \
     plant too long split after heavy rain. At the end of the season, green tomatoes can \
     ripen indoors on a sunny windowsill.",
    "The museum's new exhibition follows the history of maps, from clay tablets to satellite \
     images. The first room shows a map of a city scratched into clay, which is more than \
     three thousand years old. Later rooms hold sea charts drawn by sailors, who marked rocks, \
     currents and safe harbours. One chart shows an island that never existed; sailors copied \
     the mistake for two centuries. The exhibition ends with satellite images that show how \
     rivers and coastlines have moved in the last fifty years. Visitors can draw their own \
     map of the museum on a large table at the exit. The exhibition is open until the end of \
     March, and entry to the map rooms is free on Sundays.",
];

/// Short factual questions and the answer each must give.
pub const QUESTIONS: [(&str, &[&str]); 10] = [
    ("What is the capital of France?", &["paris"]),
    ("What is the capital of Japan?", &["tokyo"]),
    ("How many days are in a week?", &["seven"]),
    ("What colour is the sky on a clear day?", &["blue"]),
    (
        "What is the largest planet in our solar system?",
        &["jupiter"],
    ),
    ("Which animal barks?", &["dog", "dogs"]),
    ("How many legs does a spider have?", &["eight"]),
    ("What language is spoken in Spain?", &["spanish"]),
    ("What is the opposite of hot?", &["cold"]),
    ("What do bees make?", &["honey"]),
];

/// Pictures from scikit-image's wheel (each under the licence `skimage.data` documents for it)
/// and the ImageNet classes that count as right in the top 5 (none: not judged, described only);
/// `deploy/local/eval-peers.sh` extracts them.
pub const PHOTOS: [(&str, &[usize]); 7] = [
    ("chelsea.png", &[281, 282, 283, 284, 285]),
    ("coffee.png", &[504, 967, 968]),
    ("rocket.jpg", &[657, 744, 812]),
    ("motorcycle_left.png", &[665, 670]),
    ("astronaut.png", &[]),
    ("page.png", &[]),
    ("text.png", &[]),
];

pub fn ffmpeg(args: &[&str]) -> Result<()> {
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .status()
        .context("running ffmpeg (make deps installs it)")?;
    ensure!(status.success(), "ffmpeg {args:?} failed");
    Ok(())
}
