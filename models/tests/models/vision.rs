//! Image pipelines on the real models: OCR of rendered text, ImageNet classification of shipped
//! photos (licences in tests/data/LICENCE.md), EXIF facts and decoding limits.

use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use ab_glyph::{point, Font, FontRef, PxScale, ScaleFont};
use image::codecs::jpeg::JpegEncoder;
use image::{DynamicImage, Rgb, RgbImage};
use tessera_models::runtime::{Model, SessionOptions};
use tessera_models::vision::{
    decode_image, read_exif, Classifier, ImageLimits, Label, Ocr, OcrResult, Preprocess,
    VisionError,
};

const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
const CAT_CLASSES: std::ops::RangeInclusive<usize> = 281..=285;

// ---- shared models (loading once keeps the file fast) ----

fn ocr() -> &'static Mutex<Ocr> {
    static OCR: OnceLock<Mutex<Ocr>> = OnceLock::new();
    OCR.get_or_init(|| {
        Mutex::new(
            Ocr::load(
                &crate::support::model_dir("ppocr-v4"),
                &SessionOptions::default(),
            )
            .expect("PP-OCR loads"),
        )
    })
}

fn classifier() -> &'static Mutex<Classifier> {
    static CLS: OnceLock<Mutex<Classifier>> = OnceLock::new();
    CLS.get_or_init(|| {
        Mutex::new(
            Classifier::load(
                &crate::support::model_dir("efficientnet-lite0"),
                &SessionOptions::default(),
            )
            .expect("EfficientNet-Lite0 loads"),
        )
    })
}

fn read(image: &RgbImage) -> OcrResult {
    let mut ocr = ocr().lock().unwrap_or_else(|e| e.into_inner());
    ocr.read(&DynamicImage::ImageRgb8(image.clone()))
        .expect("OCR runs")
}

// ---- rendering text ----

/// Where the ink of one rendered line is: left, top, right, bottom.
type Ink = (f32, f32, f32, f32);

fn font_bytes() -> Vec<u8> {
    std::fs::read(FONT).unwrap_or_else(|e| {
        panic!("{FONT}: {e}; install the Debian package fonts-dejavu-core (deploy/local/deps.sh)")
    })
}

/// Black text on white, one line per entry; returns the image and each line's ink extent.
fn render(lines: &[&str], size: f32, width: u32) -> (RgbImage, Vec<Ink>) {
    let data = font_bytes();
    let font = FontRef::try_from_slice(&data).expect("DejaVu Sans parses");
    let scale = PxScale::from(size);
    let scaled = font.as_scaled(scale);
    let line_height = (size * 1.6).ceil();
    let margin = 40.0;
    let height = (margin * 2.0 + line_height * lines.len() as f32) as u32;
    let mut image = RgbImage::from_pixel(width, height, Rgb([255, 255, 255]));
    let mut inks = Vec::new();
    for (row, line) in lines.iter().enumerate() {
        let baseline = margin + row as f32 * line_height + scaled.ascent();
        let mut x = margin;
        let mut ink = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
        let mut previous = None;
        for c in line.chars() {
            let id = font.glyph_id(c);
            if let Some(p) = previous {
                x += scaled.kern(p, id);
            }
            previous = Some(id);
            let glyph = id.with_scale_and_position(scale, point(x, baseline));
            x += scaled.h_advance(id);
            let Some(outlined) = font.outline_glyph(glyph) else {
                continue;
            };
            let bounds = outlined.px_bounds();
            outlined.draw(|gx, gy, coverage| {
                let px = bounds.min.x as i32 + gx as i32;
                let py = bounds.min.y as i32 + gy as i32;
                if px < 0 || py < 0 || px >= width as i32 || py >= height as i32 {
                    return;
                }
                let old = image.get_pixel(px as u32, py as u32).0[0];
                let v = (f32::from(old) * (1.0 - coverage.min(1.0))).round() as u8;
                image.put_pixel(px as u32, py as u32, Rgb([v, v, v]));
                if coverage > 0.5 {
                    ink = (
                        ink.0.min(px as f32),
                        ink.1.min(py as f32),
                        ink.2.max(px as f32),
                        ink.3.max(py as f32),
                    );
                }
            });
        }
        inks.push(ink);
    }
    (image, inks)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = prev[j] + usize::from(ca != cb);
            cur[j + 1] = substitution.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// 1 − edit distance / length of the expected text.
fn accuracy(expected: &str, got: &str) -> f64 {
    1.0 - levenshtein(expected, got) as f64 / expected.chars().count() as f64
}

// ---- OCR ----

const PARAGRAPH: [&str; 4] = [
    "Tessera keeps your notes, photos and recordings",
    "in one private place. Search finds a receipt by",
    "the words printed on it, a song by its lyrics,",
    "and a whiteboard photo by the plan drawn on it.",
];

#[test]
fn ocr_reads_a_rendered_paragraph_in_order() {
    let (image, inks) = render(&PARAGRAPH, 30.0, 900);
    let started = Instant::now();
    let result = read(&image);
    let first = started.elapsed();
    let started = Instant::now();
    let again = read(&image);
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(result, again, "OCR is deterministic");

    let expected = PARAGRAPH.join("\n");
    let acc = accuracy(&expected, &result.text);
    eprintln!(
        "OCR paragraph ({}×{}, {} chars): accuracy {:.4}, {ms:.0} ms per image (first run {:.0} ms)\n{}",
        image.width(),
        image.height(),
        expected.chars().count(),
        acc,
        first.as_secs_f64() * 1000.0,
        result.text
    );
    assert!(
        acc >= 0.95,
        "character accuracy {acc:.4} < 0.95: {:?}",
        result.text
    );
    assert_eq!(
        result.lines.len(),
        PARAGRAPH.len(),
        "one box per rendered line: {:?}",
        result.lines
    );
    for ((line, want), ink) in result.lines.iter().zip(PARAGRAPH).zip(&inks) {
        let line_acc = accuracy(want, &line.text);
        assert!(line_acc >= 0.9, "line {want:?} read as {:?}", line.text);
        assert!(
            line.score >= 0.5 && line.score <= 1.0,
            "score {}",
            line.score
        );
        // The box holds the line's ink, with a margin of at most about a line height.
        let xs = line.bbox.map(|p| p[0]);
        let ys = line.bbox.map(|p| p[1]);
        let (left, right) = (
            xs.iter().copied().fold(f32::MAX, f32::min),
            xs.iter().copied().fold(f32::MIN, f32::max),
        );
        let (top, bottom) = (
            ys.iter().copied().fold(f32::MAX, f32::min),
            ys.iter().copied().fold(f32::MIN, f32::max),
        );
        assert!(
            left <= ink.0 + 2.0
                && right >= ink.2 - 2.0
                && top <= ink.1 + 2.0
                && bottom >= ink.3 - 2.0,
            "box {:?} does not hold the ink {ink:?} of {want:?}",
            line.bbox
        );
        assert!(
            left >= ink.0 - 30.0
                && right <= ink.2 + 30.0
                && top >= ink.1 - 30.0
                && bottom <= ink.3 + 30.0,
            "box {:?} is far larger than the ink {ink:?} of {want:?}",
            line.bbox
        );
    }
}

#[test]
fn ocr_turns_an_upside_down_line_around() {
    let line = "The quick brown fox jumps over the lazy dog";
    let (image, _) = render(&[line], 32.0, 820);
    let upright = read(&image);
    let flipped = read(&image::imageops::rotate180(&image));
    let acc = accuracy(line, &flipped.text);
    eprintln!(
        "upside-down line read as {:?} (accuracy {acc:.4}); upright as {:?}",
        flipped.text, upright.text
    );
    assert_eq!(flipped.lines.len(), 1, "{:?}", flipped.lines);
    assert!(acc >= 0.95, "upside-down line read as {:?}", flipped.text);
    assert!(accuracy(line, &upright.text) >= 0.95, "{:?}", upright.text);
    // Without the classifier the same line is misread: the classifier is what turns it.
    let mut plain = Ocr::load(
        &crate::support::model_dir("ppocr-v4"),
        &SessionOptions::default(),
    )
    .expect("PP-OCR loads")
    .with_angle_classifier(false);
    let unturned = plain
        .read(&DynamicImage::ImageRgb8(image::imageops::rotate180(&image)))
        .expect("OCR runs");
    let unturned_acc = accuracy(line, &unturned.text);
    eprintln!(
        "without the angle classifier: {:?} (accuracy {unturned_acc:.4})",
        unturned.text
    );
    assert!(
        unturned_acc < 0.5,
        "read without turning: {:?}",
        unturned.text
    );
    // The box is where the text is: the lower part of the flipped image (the margin flips).
    let ys = flipped.lines[0].bbox.map(|p| p[1]);
    assert!(ys
        .iter()
        .all(|&y| y > 20.0 && y < image.height() as f32 - 20.0));
}

#[test]
fn ocr_joins_boxes_of_one_row_with_a_space() {
    let gap = " ".repeat(30);
    let first = format!("Invoice number{gap}Total due");
    let (image, _) = render(&[&first, "Paid in full"], 30.0, 900);
    let result = read(&image);
    eprintln!(
        "two columns: {:?} from {} boxes",
        result.text,
        result.lines.len()
    );
    assert_eq!(result.lines.len(), 3, "{:?}", result.lines);
    let expected = "Invoice number Total due\nPaid in full";
    assert!(accuracy(expected, &result.text) >= 0.9, "{:?}", result.text);
    assert_eq!(result.text.lines().count(), 2, "{:?}", result.text);
}

#[test]
fn ocr_finds_nothing_on_a_blank_page() {
    let blank = RgbImage::from_pixel(640, 480, Rgb([255, 255, 255]));
    let result = read(&blank);
    assert!(result.lines.is_empty(), "{:?}", result.lines);
    assert_eq!(result.text, "");
    // Degenerate shapes are not an error either.
    for (w, h) in [(1, 1), (3, 900), (2000, 5)] {
        let result = read(&RgbImage::from_pixel(w, h, Rgb([255, 255, 255])));
        assert!(result.lines.is_empty(), "{w}×{h}: {:?}", result.lines);
    }
}

// ---- classification ----

fn data(name: &str) -> Vec<u8> {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "data", name]
        .iter()
        .collect();
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn photo(name: &str) -> DynamicImage {
    decode_image(&data(name), &ImageLimits::default()).expect("the test photo decodes")
}

fn show(labels: &[Label]) -> String {
    labels
        .iter()
        .map(|l| format!("{} {} {:.3}", l.index, l.name, l.score))
        .collect::<Vec<_>>()
        .join("; ")
}

#[test]
fn a_cat_photo_gets_a_cat_class() {
    let cat = photo("chelsea.jpg");
    let mut classifier = classifier().lock().unwrap_or_else(|e| e.into_inner());
    let top = classifier.classify(&cat, 5).expect("classify");
    let started = Instant::now();
    const RUNS: u32 = 5;
    for _ in 0..RUNS {
        classifier.classify(&cat, 5).expect("classify");
    }
    let ms = started.elapsed().as_secs_f64() * 1000.0 / f64::from(RUNS);
    eprintln!(
        "cat (centre crop): {}; {ms:.1} ms per image; batches: {}",
        show(&top),
        classifier.batches()
    );
    assert_eq!(top.len(), 5);
    assert!(
        top.iter().any(|l| CAT_CLASSES.contains(&l.index)),
        "no cat class in the top 5: {}",
        show(&top)
    );
    assert!(top.windows(2).all(|w| w[0].score >= w[1].score), "sorted");
    // Through the registry's interface: one answer per request, in order.
    let answers = Model::run_batch(&mut *classifier, vec![cat.clone(), photo("coffee.jpg")]);
    assert_eq!(answers.len(), 2);
    let first = answers[0].as_ref().expect("classified");
    assert_eq!(first[0].index, top[0].index);
    assert!(answers[1].as_ref().expect("classified")[0].index != top[0].index);
    let total: f32 = top.iter().map(|l| l.score).sum();
    assert!(
        top[0].score > 0.0 && total <= 1.0 + 1e-4,
        "probabilities, sum {total}"
    );
}

#[test]
fn other_images_do_not_come_first_as_cats() {
    let coffee = photo("coffee.jpg");
    let (page, _) = render(&PARAGRAPH, 30.0, 900);
    let page = DynamicImage::ImageRgb8(page);
    let cat = photo("chelsea.jpg");
    let mut classifier = classifier().lock().unwrap_or_else(|e| e.into_inner());
    let batch = classifier
        .classify_batch(&[coffee.clone(), page, cat.clone()], 3)
        .expect("classify a batch");
    assert_eq!(batch.len(), 3);
    eprintln!(
        "coffee: {}\ntext page: {}",
        show(&batch[0]),
        show(&batch[1])
    );
    for (name, labels) in [("coffee", &batch[0]), ("text page", &batch[1])] {
        assert!(
            !CAT_CLASSES.contains(&labels[0].index),
            "{name} classified as a cat: {}",
            show(labels)
        );
    }
    // Batching does not change an image's answer.
    let alone = classifier.classify(&cat, 3).expect("classify");
    assert_eq!(alone[0].index, batch[2][0].index);
    assert!((alone[0].score - batch[2][0].score).abs() < 1e-3);
    // Extreme shapes classify without blowing up.
    let strip = DynamicImage::ImageRgb8(RgbImage::from_pixel(12_000, 1, Rgb([40, 90, 200])));
    let tiny = DynamicImage::ImageRgb8(RgbImage::from_pixel(1, 1, Rgb([255, 255, 255])));
    for labels in classifier
        .classify_batch(&[strip, tiny], 1)
        .expect("classify odd shapes")
    {
        assert_eq!(labels.len(), 1);
        assert!(labels[0].score > 0.0 && labels[0].score <= 1.0);
    }
    // The other preprocessing, for comparison in the log.
    let mut stretched = Vec::new();
    for image in [&cat, &coffee] {
        let labels = classify_with(Preprocess::Stretch, image);
        stretched.push(show(&labels));
    }
    eprintln!("stretched: cat {}; coffee {}", stretched[0], stretched[1]);
}

fn classify_with(preprocess: Preprocess, image: &DynamicImage) -> Vec<Label> {
    Classifier::load(
        &crate::support::model_dir("efficientnet-lite0"),
        &SessionOptions::default(),
    )
    .expect("loads")
    .with_preprocess(preprocess)
    .classify(image, 3)
    .expect("classify")
}

// ---- EXIF ----

const ASCII: u16 = 2;
const SHORT: u16 = 3;
const LONG: u16 = 4;
const RATIONAL: u16 = 5;

struct Entry {
    tag: u16,
    kind: u16,
    count: u32,
    bytes: Vec<u8>,
}

fn ascii(tag: u16, s: &str) -> Entry {
    let mut bytes = s.as_bytes().to_vec();
    bytes.push(0);
    Entry {
        tag,
        kind: ASCII,
        count: bytes.len() as u32,
        bytes,
    }
}

fn short(tag: u16, v: u16) -> Entry {
    Entry {
        tag,
        kind: SHORT,
        count: 1,
        bytes: v.to_le_bytes().to_vec(),
    }
}

fn long(tag: u16, v: u32) -> Entry {
    Entry {
        tag,
        kind: LONG,
        count: 1,
        bytes: v.to_le_bytes().to_vec(),
    }
}

fn rationals(tag: u16, values: &[(u32, u32)]) -> Entry {
    let bytes = values
        .iter()
        .flat_map(|(n, d)| n.to_le_bytes().into_iter().chain(d.to_le_bytes()))
        .collect();
    Entry {
        tag,
        kind: RATIONAL,
        count: values.len() as u32,
        bytes,
    }
}

/// One little-endian IFD at `start`, its out-of-line values right after it.
fn ifd(entries: &[Entry], start: u32) -> Vec<u8> {
    let table_len = 2 + 12 * entries.len() as u32 + 4;
    let mut table = (entries.len() as u16).to_le_bytes().to_vec();
    let mut extra = Vec::new();
    for e in entries {
        table.extend(e.tag.to_le_bytes());
        table.extend(e.kind.to_le_bytes());
        table.extend(e.count.to_le_bytes());
        if e.bytes.len() <= 4 {
            let mut inline = e.bytes.clone();
            inline.resize(4, 0);
            table.extend(inline);
        } else {
            table.extend((start + table_len + extra.len() as u32).to_le_bytes());
            extra.extend(&e.bytes);
            if extra.len() % 2 == 1 {
                extra.push(0);
            }
        }
    }
    table.extend(0u32.to_le_bytes());
    table.extend(extra);
    table
}

/// A TIFF structure with IFD0 (camera, orientation), the Exif IFD (capture time) and a GPS IFD
/// (48°51'30.24" N, 2°17'40.2" E).
fn exif_tiff(orientation: u16) -> Vec<u8> {
    let ifd0 = |exif_at: u32, gps_at: u32| {
        vec![
            ascii(0x010F, "Canon"),
            ascii(0x0110, "Canon EOS 5D Mark IV"),
            short(0x0112, orientation),
            long(0x8769, exif_at),
            long(0x8825, gps_at),
        ]
    };
    let exif_entries = vec![
        ascii(0x9003, "2024:05:17 14:03:09"),
        ascii(0x9011, "+02:00"),
    ];
    let gps_entries = vec![
        ascii(0x0001, "N"),
        rationals(0x0002, &[(48, 1), (51, 1), (3024, 100)]),
        ascii(0x0003, "E"),
        rationals(0x0004, &[(2, 1), (17, 1), (402, 10)]),
    ];
    let len0 = ifd(&ifd0(0, 0), 8).len() as u32;
    let exif_at = 8 + len0;
    let exif = ifd(&exif_entries, exif_at);
    let gps_at = exif_at + exif.len() as u32;
    let mut tiff = b"II*\0".to_vec();
    tiff.extend(8u32.to_le_bytes());
    tiff.extend(ifd(&ifd0(exif_at, gps_at), 8));
    tiff.extend(exif);
    tiff.extend(ifd(&gps_entries, gps_at));
    tiff
}

/// A 40×20 JPEG (left half red, right half blue) with an APP1 segment holding `app1`.
fn jpeg_with_app1(app1: &[u8]) -> Vec<u8> {
    let image = RgbImage::from_fn(40, 20, |x, _| {
        if x < 20 {
            Rgb([220, 20, 20])
        } else {
            Rgb([20, 20, 220])
        }
    });
    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut jpeg, 90)
        .encode_image(&image)
        .expect("encode");
    let mut segment = vec![0xFF, 0xE1];
    segment.extend(((app1.len() + 2) as u16).to_be_bytes());
    segment.extend(app1);
    jpeg.splice(2..2, segment);
    jpeg
}

fn exif_jpeg(orientation: u16) -> Vec<u8> {
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend(exif_tiff(orientation));
    jpeg_with_app1(&app1)
}

#[test]
fn exif_gives_time_and_camera_and_gps_only_when_allowed() {
    let jpeg = exif_jpeg(1);
    let facts = read_exif(&jpeg, false);
    assert_eq!(
        facts.captured_at.as_deref(),
        Some("2024-05-17T14:03:09+02:00")
    );
    assert_eq!(facts.camera_make.as_deref(), Some("Canon"));
    assert_eq!(facts.camera_model.as_deref(), Some("Canon EOS 5D Mark IV"));
    assert_eq!(facts.orientation, Some(1));
    assert_eq!(facts.gps, None, "no GPS unless allowed");

    let with_gps = read_exif(&jpeg, true);
    let gps = with_gps.gps.expect("GPS when allowed");
    assert!((gps.latitude - 48.858_4).abs() < 1e-4, "{gps:?}");
    assert!((gps.longitude - 2.294_5).abs() < 1e-4, "{gps:?}");
    assert_eq!(with_gps.camera_make, facts.camera_make);
}

#[test]
fn missing_or_broken_exif_gives_empty_facts() {
    let plain = jpeg_with_app1(b"XMP-like junk that is not EXIF");
    assert!(read_exif(&plain, true).is_empty());
    let mut broken = b"Exif\0\0II*\0".to_vec();
    broken.extend(0xFFFF_FF00u32.to_le_bytes());
    assert!(read_exif(&jpeg_with_app1(&broken), true).is_empty());
    assert!(read_exif(b"not an image at all", true).is_empty());
    assert!(read_exif(&[], true).is_empty());
    // The image itself still decodes.
    let image = decode_image(&jpeg_with_app1(&broken), &ImageLimits::default()).expect("decodes");
    assert_eq!((image.width(), image.height()), (40, 20));
}

#[test]
fn exif_orientation_is_applied_when_decoding() {
    // Orientation 6: the camera was turned a quarter clockwise; viewers show the image rotated.
    let image = decode_image(&exif_jpeg(6), &ImageLimits::default()).expect("decodes");
    assert_eq!((image.width(), image.height()), (20, 40));
    let rgb = image.to_rgb8();
    // The red left half of the stored image is now on top.
    assert!(rgb.get_pixel(10, 5).0[0] > 150 && rgb.get_pixel(10, 35).0[2] > 150);
}

// ---- limits ----

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn png_header(width: u32, height: u32) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = b"IHDR".to_vec();
    chunk.extend(width.to_be_bytes());
    chunk.extend(height.to_be_bytes());
    chunk.extend([8, 2, 0, 0, 0]);
    png.extend(13u32.to_be_bytes());
    png.extend(&chunk);
    png.extend(crc32(&chunk).to_be_bytes());
    png
}

#[test]
fn absurd_dimensions_are_refused_before_decoding() {
    let mut png = png_header(100_000, 100_000);
    // An IDAT that claims much and holds little, then the end.
    png.extend(16u32.to_be_bytes());
    let idat: Vec<u8> = b"IDAT"
        .iter()
        .copied()
        .chain([0x78, 0x9C].into_iter().chain([0; 14]))
        .collect();
    png.extend(&idat);
    png.extend(crc32(&idat).to_be_bytes());
    let started = Instant::now();
    let err = decode_image(&png, &ImageLimits::default()).expect_err("refused");
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    assert!(matches!(err, VisionError::TooLarge(_)), "{err:?}");
    assert!(matches!(err, VisionError::TooLarge(_)), "{err}");
    assert!(err.is_input_error());
    assert!(err.to_string().contains("100000×100000"), "{err}");
    assert!(ms < 200.0, "took {ms:.1} ms");
}

#[test]
fn truncated_or_garbage_images_are_errors_not_panics() {
    let good = {
        let mut bytes = Vec::new();
        let image = RgbImage::from_fn(64, 64, |x, y| Rgb([(x * 4) as u8, (y * 4) as u8, 90]));
        DynamicImage::ImageRgb8(image)
            .write_to(
                &mut std::io::Cursor::new(&mut bytes),
                image::ImageFormat::Png,
            )
            .expect("encode");
        bytes
    };
    assert!(decode_image(&good, &ImageLimits::default()).is_ok());
    let truncated = &good[..good.len() / 2];
    let err = decode_image(truncated, &ImageLimits::default()).expect_err("truncated PNG");
    assert!(matches!(err, VisionError::Corrupt(_)), "{err}");
    let err =
        decode_image(b"definitely not an image", &ImageLimits::default()).expect_err("garbage");
    assert!(matches!(err, VisionError::Unsupported(_)), "{err}");
    let err = decode_image(&png_header(0, 10), &ImageLimits::default()).expect_err("zero width");
    assert!(err.is_input_error(), "{err}");
    // Every prefix of a JPEG: an error or an image, never a panic.
    let jpeg = exif_jpeg(1);
    for cut in (0..jpeg.len()).step_by(7) {
        let _ = decode_image(&jpeg[..cut], &ImageLimits::default());
        let _ = read_exif(&jpeg[..cut], true);
    }
}
