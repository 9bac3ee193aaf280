//! Image pipelines: classification, OCR, EXIF facts.
