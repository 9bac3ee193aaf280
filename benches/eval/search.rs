//! The search part of the eval: a user of its own uploads the search set's notes, one spoken
//! clip per sentence, one rendered page and the photos; every question is asked three ways
//! (by meaning only, by words only, and both fused as users get it), and scored by the rank of
//! the item it should find and whether the item's first hit points to the right place.

use std::path::Path;
use std::time::Instant;

use anyhow::{ensure, Context, Result};
use reqwest::Method;
use serde_json::{json, Value};

use tessera_testkit::app::query_value;

use crate::items::Eval;
use crate::score::norm_words;
use crate::search_set::{NOTES, PAGE, PHOTOS, SPOKEN};
use crate::set::{self, Clip, Page};

/// Where a question's answer is.
enum Expect {
    /// A note's paragraph, as its byte range in the note's text.
    Paragraph(usize, usize),
    /// A spoken clip: any time.
    Time,
    /// The page: a box on the line with this text.
    Line(&'static str),
    /// A photo: the item alone.
    Item,
}

struct Question {
    text: &'static str,
    item: String,
    expect: Expect,
}

impl Eval {
    pub async fn search(&self, pages: &[Page], clips: &[Clip], photos: &Path) -> Result<Value> {
        let app = &self.app;
        let access = app.register("search@example.com").await.access;
        let admin = app.make_admin("search-admin@example.com").await.access;
        let mut questions = Vec::new();
        let mut ids = Vec::new();
        for note in &NOTES {
            let text = note.paragraphs.join("\n\n");
            let r = app
                .call_as(
                    Method::POST,
                    "/api/content/notes",
                    &access,
                    Some(&json!({ "title": note.title, "text": text })),
                )
                .await;
            ensure!(r.status == 201, "note {}: {:?}", note.title, r.body);
            let id = r.body["id"].as_str().context("an id")?.to_owned();
            for (q, p) in note.questions {
                let start = text.find(note.paragraphs[p]).unwrap_or(0);
                questions.push(Question {
                    text: q,
                    item: id.clone(),
                    expect: Expect::Paragraph(start, start + note.paragraphs[p].len()),
                });
            }
            ids.push(id);
        }
        for (i, _) in set::SENTENCES.iter().enumerate() {
            let clip = clips
                .iter()
                .find(|c| c.condition == "wav" && c.truth == set::SENTENCES[i])
                .context("a clean clip of every sentence")?;
            let id = self.upload_file(&access, &clip.path).await?;
            for (q, s) in SPOKEN.iter().filter(|(_, s)| *s == i) {
                let _ = s;
                questions.push(Question {
                    text: q,
                    item: id.clone(),
                    expect: Expect::Time,
                });
            }
            ids.push(id);
        }
        let page = pages.get(4).context("a page at 30 px, upright")?;
        let id = self.upload_file(&access, &page.path).await?;
        for (q, line) in PAGE {
            questions.push(Question {
                text: q,
                item: id.clone(),
                expect: Expect::Line(set::PAGE[line]),
            });
        }
        ids.push(id);
        for name in [
            "chelsea.png",
            "coffee.png",
            "rocket.jpg",
            "motorcycle_left.png",
        ] {
            let id = self.upload_file(&access, &photos.join(name)).await?;
            for (q, _) in PHOTOS.iter().filter(|(_, n)| *n == name) {
                questions.push(Question {
                    text: q,
                    item: id.clone(),
                    expect: Expect::Item,
                });
            }
            ids.push(id);
        }
        for id in &ids {
            self.wait_as(&access, id, Instant::now()).await?;
        }
        app.projections_settled(&admin).await;

        let mut rankings = serde_json::Map::new();
        for ranking in ["vector", "words", "hybrid"] {
            let (mut found, mut first, mut rr, mut placed, mut took) =
                (0usize, 0usize, 0.0, 0usize, Vec::new());
            let (mut missed, mut misplaced) = (Vec::new(), Vec::new());
            for q in &questions {
                let started = Instant::now();
                let r = app
                    .get_as(
                        &format!(
                            "/api/search?q={}&ranking={ranking}&limit=10",
                            query_value(q.text)
                        ),
                        &access,
                    )
                    .await;
                took.push(started.elapsed().as_secs_f64() * 1000.0);
                ensure!(r.status == 200, "search {:?}: {:?}", q.text, r.body);
                let items = r.body["items"].as_array().cloned().unwrap_or_default();
                match items
                    .iter()
                    .position(|i| i["item"]["id"] == q.item.as_str())
                {
                    Some(rank) => {
                        found += 1;
                        first += usize::from(rank == 0);
                        rr += 1.0 / (rank + 1) as f64;
                        if points_right(&items[rank], &q.expect) {
                            placed += 1;
                        } else {
                            misplaced.push(format!("{} → {}", q.text, items[rank]["hits"][0]));
                        }
                    }
                    None => missed.push(q.text),
                }
            }
            took.sort_by(f64::total_cmp);
            let n = questions.len() as f64;
            let p95 = took[(took.len() * 95 / 100).min(took.len() - 1)];
            println!(
                "search {ranking:>6}: recall@1 {:.2}  recall@10 {:.2}  MRR {:.2}  right place {:.2}  p95 {p95:.0} ms  ({} questions; missed: {missed:?})",
                first as f64 / n,
                found as f64 / n,
                rr / n,
                placed as f64 / n,
                questions.len()
            );
            rankings.insert(
                ranking.into(),
                json!({
                    "recall_at_1": first as f64 / n,
                    "recall_at_10": found as f64 / n,
                    "mrr": rr / n,
                    "right_place": placed as f64 / n,
                    "p95_ms_through_the_api": p95,
                    "missed": missed,
                    "misplaced": misplaced,
                }),
            );
        }
        Ok(json!({ "questions": questions.len(), "items": ids.len(), "rankings": rankings }))
    }

    async fn upload_file(&self, access: &str, path: &Path) -> Result<String> {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
        self.upload_as(access, std::fs::read(path)?, name).await
    }
}

/// Whether the item's first hit points where the answer is.
fn points_right(item: &Value, expect: &Expect) -> bool {
    let hit = &item["hits"][0];
    let at = &hit["at"];
    match expect {
        Expect::Paragraph(start, end) => {
            at["type"] == "paragraph"
                && at["start"].as_u64().is_some_and(|s| s as usize >= *start)
                && at["end"].as_u64().is_some_and(|e| e as usize <= *end)
        }
        Expect::Time => at["type"] == "time",
        Expect::Line(line) => {
            let text: String = hit["snippet"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p["text"].as_str())
                .collect();
            // OCR may misread a letter: most of the hit's words are the line's.
            let line = norm_words(line);
            let read = norm_words(&text);
            let shared = read.iter().filter(|w| line.contains(w)).count();
            at["type"] == "box" && !read.is_empty() && shared * 2 >= read.len()
        }
        Expect::Item => true,
    }
}
