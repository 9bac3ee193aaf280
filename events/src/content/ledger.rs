//! The owner's usage ledger, stream `usage-<user uuid>`. Every event carries the totals after it,
//! so the current state is the last event alone: a quota decision reads one row however long the
//! ledger grows, and the expected version of the append makes it exact under concurrency.
//!
//! Storage is spent by items and held by open resumable uploads: starting one reserves its whole
//! length, so the chunks it may still receive are within the quota before the first arrives. The
//! reservation ends when the upload completes (its item takes the bytes over in the same
//! decision), is aborted, or expires (an expired reservation holds nothing and is dropped at the
//! ledger's next event).

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::error::ContentError;
use super::modality::Modality;
use crate::aggregate::{Aggregate, DomainEvent, Loaded};
use crate::error::StoreError;
use crate::event::StreamId;
use crate::ids::{ContentId, UploadId};
use crate::store::EventStore;

/// Storage held for an open resumable upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    pub upload_id: UploadId,
    pub bytes: u64,
    pub expires_at: DateTime<Utc>,
}

/// Running totals after an event. Daily counters belong to `day` (UTC).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageTotals {
    pub stored_bytes: u64,
    pub items: u64,
    pub day: Option<NaiveDate>,
    pub uploads_on_day: u64,
    pub processing_ms_on_day: u64,
    /// Language-model tokens (prompt and answer) on `day`.
    #[serde(default)]
    pub tokens_on_day: u64,
    /// Audio heard or spoken by the models on `day`, in milliseconds.
    #[serde(default)]
    pub audio_ms_on_day: u64,
    /// Open resumable uploads' reservations (some may have expired since).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reservations: Vec<Reservation>,
}

impl UsageTotals {
    /// Bytes held at `now` by reservations that have not expired.
    pub fn held_bytes(&self, now: DateTime<Utc>) -> u64 {
        self.live(now).map(|r| r.bytes).sum()
    }

    /// Reservations in force at `now`.
    pub fn live(&self, now: DateTime<Utc>) -> impl Iterator<Item = &Reservation> {
        self.reservations.iter().filter(move |r| r.expires_at > now)
    }

    /// The totals without expired reservations and without `ending` (a reservation taken over
    /// or ended now).
    fn pruned(mut self, now: DateTime<Utc>, ending: Option<UploadId>) -> Self {
        self.reservations
            .retain(|r| r.expires_at > now && Some(r.upload_id) != ending);
        self
    }

    /// Refuses `bytes` more when stored bytes, live reservations and them pass the quota.
    fn check_storage(
        &self,
        now: DateTime<Utc>,
        bytes: u64,
        limits: QuotaLimitsNow,
    ) -> Result<(), ContentError> {
        let used = self.stored_bytes.saturating_add(self.held_bytes(now));
        if used.saturating_add(bytes) > limits.storage_bytes {
            return Err(ContentError::QuotaExceeded {
                limit: "storage_bytes",
                allowed: limits.storage_bytes,
                used,
                requested: bytes,
            });
        }
        Ok(())
    }

    /// The totals as of `today`: yesterday's daily counters do not count.
    pub fn on(self, today: NaiveDate) -> Self {
        if self.day == Some(today) {
            self
        } else {
            Self {
                day: Some(today),
                uploads_on_day: 0,
                processing_ms_on_day: 0,
                tokens_on_day: 0,
                audio_ms_on_day: 0,
                ..self
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum UsageEvent {
    #[serde(rename = "usage.upload_recorded")]
    UploadRecorded {
        content_id: ContentId,
        modality: Modality,
        bytes: u64,
        totals: UsageTotals,
    },
    #[serde(rename = "usage.storage_released")]
    StorageReleased {
        content_id: ContentId,
        modality: Modality,
        bytes: u64,
        totals: UsageTotals,
    },
    /// A resumable upload started: its length is held until it completes, ends or expires.
    #[serde(rename = "usage.storage_reserved")]
    StorageReserved {
        upload_id: UploadId,
        bytes: u64,
        expires_at: DateTime<Utc>,
        totals: UsageTotals,
    },
    /// A resumable upload's reservation ended without an item (aborted, failed, or its bytes
    /// were an item already).
    #[serde(rename = "usage.reservation_ended")]
    ReservationEnded {
        upload_id: UploadId,
        bytes: u64,
        totals: UsageTotals,
    },
    #[serde(rename = "usage.processing_recorded")]
    ProcessingRecorded {
        content_id: Option<ContentId>,
        modality: Modality,
        processing_ms: u64,
        totals: UsageTotals,
    },
    /// Interactive work of the models (a chat answer, speech, a transcription, embeddings),
    /// metered when it ends.
    #[serde(rename = "usage.generation_recorded")]
    GenerationRecorded {
        /// What was done: `chat`, `speech`, `transcription`, `embeddings`, `summary`, ...
        kind: String,
        /// The modality the work is counted under.
        modality: Modality,
        /// The model (catalog id, or a provider's model name).
        model: String,
        tokens_in: u64,
        tokens_out: u64,
        audio_ms: u64,
        processing_ms: u64,
        totals: UsageTotals,
    },
}

impl UsageEvent {
    pub fn totals(&self) -> &UsageTotals {
        match self {
            Self::UploadRecorded { totals, .. }
            | Self::StorageReleased { totals, .. }
            | Self::StorageReserved { totals, .. }
            | Self::ReservationEnded { totals, .. }
            | Self::ProcessingRecorded { totals, .. }
            | Self::GenerationRecorded { totals, .. } => totals,
        }
    }
}

impl DomainEvent for UsageEvent {}

/// The limits in force for a user now (admin-set or the configured defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaLimitsNow {
    pub storage_bytes: u64,
    pub uploads_per_day: u64,
    pub processing_seconds_per_day: u64,
}

#[derive(Debug, Clone)]
pub enum LedgerCommand {
    RecordUpload {
        content_id: ContentId,
        modality: Modality,
        bytes: u64,
        /// The resumable upload whose reservation the item takes over.
        reservation: Option<UploadId>,
        now: DateTime<Utc>,
        limits: QuotaLimitsNow,
    },
    /// Holds `bytes` for a resumable upload; refused past the storage quota or when
    /// `max_open` uploads are open already.
    Reserve {
        upload_id: UploadId,
        bytes: u64,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
        limits: QuotaLimitsNow,
        max_open: usize,
    },
    /// Ends a reservation; nothing when it is not held (ended before, or expired).
    EndReservation {
        upload_id: UploadId,
        now: DateTime<Utc>,
    },
    ReleaseStorage {
        content_id: ContentId,
        modality: Modality,
        bytes: u64,
        today: NaiveDate,
    },
    /// Recorded after the work; [`Ledger::check_processing`] is the gate before it.
    RecordProcessing {
        content_id: Option<ContentId>,
        modality: Modality,
        processing_ms: u64,
        today: NaiveDate,
    },
    /// Recorded after the work; [`Ledger::check_processing`] is the gate before it.
    RecordGeneration {
        kind: String,
        modality: Modality,
        model: String,
        tokens_in: u64,
        tokens_out: u64,
        audio_ms: u64,
        processing_ms: u64,
        today: NaiveDate,
    },
}

#[derive(Debug, Clone, Default)]
pub struct Ledger {
    pub totals: UsageTotals,
}

impl Ledger {
    /// Loads the ledger from its last event.
    pub async fn load(
        store: &dyn EventStore,
        stream: &StreamId,
    ) -> Result<Loaded<Ledger>, StoreError> {
        match store.read_last(stream).await? {
            None => Ok(Loaded {
                state: Ledger::default(),
                version: 0,
            }),
            Some(e) => Ok(Loaded {
                state: Ledger {
                    totals: UsageEvent::decode(&e)?.totals().clone(),
                },
                version: e.stream_version,
            }),
        }
    }

    /// Whether more processing may start today.
    pub fn check_processing(
        &self,
        today: NaiveDate,
        limits: QuotaLimitsNow,
    ) -> Result<(), ContentError> {
        let t = self.totals.clone().on(today);
        let allowed_ms = limits.processing_seconds_per_day.saturating_mul(1000);
        if t.processing_ms_on_day >= allowed_ms {
            return Err(ContentError::QuotaExceeded {
                limit: "processing_seconds_per_day",
                allowed: limits.processing_seconds_per_day,
                used: t.processing_ms_on_day / 1000,
                requested: 1,
            });
        }
        Ok(())
    }
}

impl Aggregate for Ledger {
    type Event = UsageEvent;
    type Command = LedgerCommand;
    type Error = ContentError;

    fn evolve(&mut self, event: &UsageEvent) {
        self.totals = event.totals().clone();
    }

    fn decide(&self, command: LedgerCommand) -> Result<Vec<UsageEvent>, ContentError> {
        match command {
            LedgerCommand::RecordUpload {
                content_id,
                modality,
                bytes,
                reservation,
                now,
                limits,
            } => {
                let t = self.totals.clone().on(now.date_naive());
                let t = t.pruned(now, reservation);
                if t.uploads_on_day >= limits.uploads_per_day {
                    return Err(ContentError::QuotaExceeded {
                        limit: "uploads_per_day",
                        allowed: limits.uploads_per_day,
                        used: t.uploads_on_day,
                        requested: 1,
                    });
                }
                t.check_storage(now, bytes, limits)?;
                let totals = UsageTotals {
                    stored_bytes: t.stored_bytes + bytes,
                    items: t.items + 1,
                    uploads_on_day: t.uploads_on_day + 1,
                    ..t
                };
                Ok(vec![UsageEvent::UploadRecorded {
                    content_id,
                    modality,
                    bytes,
                    totals,
                }])
            }
            LedgerCommand::Reserve {
                upload_id,
                bytes,
                expires_at,
                now,
                limits,
                max_open,
            } => {
                let mut t = self.totals.clone().pruned(now, None);
                if t.reservations.len() >= max_open {
                    return Err(ContentError::TooManyOpenUploads { limit: max_open });
                }
                t.check_storage(now, bytes, limits)?;
                t.reservations.push(Reservation {
                    upload_id,
                    bytes,
                    expires_at,
                });
                Ok(vec![UsageEvent::StorageReserved {
                    upload_id,
                    bytes,
                    expires_at,
                    totals: t,
                }])
            }
            LedgerCommand::EndReservation { upload_id, now } => {
                let Some(held) = self.totals.live(now).find(|r| r.upload_id == upload_id) else {
                    return Ok(Vec::new());
                };
                let bytes = held.bytes;
                Ok(vec![UsageEvent::ReservationEnded {
                    upload_id,
                    bytes,
                    totals: self.totals.clone().pruned(now, Some(upload_id)),
                }])
            }
            LedgerCommand::ReleaseStorage {
                content_id,
                modality,
                bytes,
                today,
            } => {
                let t = self.totals.clone().on(today);
                let totals = UsageTotals {
                    stored_bytes: t.stored_bytes.saturating_sub(bytes),
                    items: t.items.saturating_sub(1),
                    ..t
                };
                Ok(vec![UsageEvent::StorageReleased {
                    content_id,
                    modality,
                    bytes,
                    totals,
                }])
            }
            LedgerCommand::RecordProcessing {
                content_id,
                modality,
                processing_ms,
                today,
            } => {
                let t = self.totals.clone().on(today);
                let totals = UsageTotals {
                    processing_ms_on_day: t.processing_ms_on_day + processing_ms,
                    ..t
                };
                Ok(vec![UsageEvent::ProcessingRecorded {
                    content_id,
                    modality,
                    processing_ms,
                    totals,
                }])
            }
            LedgerCommand::RecordGeneration {
                kind,
                modality,
                model,
                tokens_in,
                tokens_out,
                audio_ms,
                processing_ms,
                today,
            } => {
                let t = self.totals.clone().on(today);
                let totals = UsageTotals {
                    processing_ms_on_day: t.processing_ms_on_day + processing_ms,
                    tokens_on_day: t.tokens_on_day + tokens_in + tokens_out,
                    audio_ms_on_day: t.audio_ms_on_day + audio_ms,
                    ..t
                };
                Ok(vec![UsageEvent::GenerationRecorded {
                    kind,
                    modality,
                    model,
                    tokens_in,
                    tokens_out,
                    audio_ms,
                    processing_ms,
                    totals,
                }])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    const LIMITS: QuotaLimitsNow = QuotaLimitsNow {
        storage_bytes: 100,
        uploads_per_day: 2,
        processing_seconds_per_day: 1,
    };

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 1, d).unwrap()
    }

    fn noon(today: NaiveDate) -> DateTime<Utc> {
        today.and_hms_opt(12, 0, 0).unwrap().and_utc()
    }

    fn upload(l: &Ledger, bytes: u64, today: NaiveDate) -> Result<Vec<UsageEvent>, ContentError> {
        l.decide(LedgerCommand::RecordUpload {
            content_id: ContentId(Uuid::new_v4()),
            modality: Modality::Image,
            bytes,
            reservation: None,
            now: noon(today),
            limits: LIMITS,
        })
    }

    fn apply(l: &mut Ledger, events: Vec<UsageEvent>) {
        for e in &events {
            l.evolve(e);
        }
    }

    fn reserve(
        l: &Ledger,
        id: Uuid,
        bytes: u64,
        now: DateTime<Utc>,
    ) -> Result<Vec<UsageEvent>, ContentError> {
        l.decide(LedgerCommand::Reserve {
            upload_id: UploadId(id),
            bytes,
            expires_at: now + chrono::Duration::hours(1),
            now,
            limits: LIMITS,
            max_open: 2,
        })
    }

    #[test]
    fn reservations_hold_storage_until_taken_over_ended_or_expired() {
        let now = noon(day(1));
        let mut l = Ledger::default();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let e = reserve(&l, a, 60, now).unwrap();
        apply(&mut l, e);
        // What is held counts against every other use of storage.
        assert!(matches!(
            reserve(&l, b, 41, now).unwrap_err(),
            ContentError::QuotaExceeded { used: 60, .. }
        ));
        assert!(upload(&l, 41, day(1)).is_err());
        let e = reserve(&l, b, 40, now).unwrap();
        apply(&mut l, e);
        assert_eq!(l.totals.held_bytes(now), 100);
        // At most `max_open` at once.
        assert!(matches!(
            reserve(&l, Uuid::new_v4(), 0, now).unwrap_err(),
            ContentError::TooManyOpenUploads { limit: 2 }
        ));
        // The item of upload `a` takes its reservation over: it fits exactly.
        let taken = l
            .decide(LedgerCommand::RecordUpload {
                content_id: ContentId(Uuid::new_v4()),
                modality: Modality::Video,
                bytes: 60,
                reservation: Some(UploadId(a)),
                now,
                limits: LIMITS,
            })
            .unwrap();
        apply(&mut l, taken);
        assert_eq!((l.totals.stored_bytes, l.totals.held_bytes(now)), (60, 40));
        // Ending `b` frees its bytes; ending it again (or an unknown one) changes nothing.
        let e = l
            .decide(LedgerCommand::EndReservation {
                upload_id: UploadId(b),
                now,
            })
            .unwrap();
        apply(&mut l, e);
        assert_eq!(l.totals.held_bytes(now), 0);
        assert!(l.totals.reservations.is_empty());
        assert!(l
            .decide(LedgerCommand::EndReservation {
                upload_id: UploadId(b),
                now
            })
            .unwrap()
            .is_empty());
        // An expired reservation holds nothing and is dropped at the next event.
        let e = reserve(&l, b, 40, now).unwrap();
        apply(&mut l, e);
        let later = now + chrono::Duration::hours(2);
        assert_eq!(l.totals.held_bytes(later), 0);
        let e = reserve(&l, Uuid::new_v4(), 40, later).unwrap();
        apply(&mut l, e);
        assert_eq!(l.totals.reservations.len(), 1);
        // Ledgers written before reservations existed still read, and none is written out.
        let json = serde_json::to_value(UsageTotals::default()).unwrap();
        assert!(json.get("reservations").is_none(), "{json}");
    }

    #[test]
    fn storage_and_daily_limits_hold_and_days_reset() {
        let mut l = Ledger::default();
        for e in upload(&l, 60, day(1)).unwrap() {
            l.evolve(&e);
        }
        let err = upload(&l, 41, day(1)).unwrap_err();
        assert!(matches!(
            err,
            ContentError::QuotaExceeded {
                limit: "storage_bytes",
                used: 60,
                ..
            }
        ));
        for e in upload(&l, 40, day(1)).unwrap() {
            l.evolve(&e);
        }
        assert_eq!(l.totals.stored_bytes, 100);
        let err = upload(&l, 0, day(1)).unwrap_err();
        assert!(matches!(
            err,
            ContentError::QuotaExceeded {
                limit: "uploads_per_day",
                ..
            }
        ));
        // A new day resets the daily count, not the storage.
        assert!(upload(&l, 0, day(2)).is_ok());
        assert!(upload(&l, 1, day(2)).is_err());
    }

    #[test]
    fn processing_gate_counts_the_day() {
        let mut l = Ledger::default();
        assert!(l.check_processing(day(1), LIMITS).is_ok());
        let events = l
            .decide(LedgerCommand::RecordProcessing {
                content_id: None,
                modality: Modality::Audio,
                processing_ms: 1500,
                today: day(1),
            })
            .unwrap();
        l.evolve(&events[0]);
        assert!(l.check_processing(day(1), LIMITS).is_err());
        assert!(l.check_processing(day(2), LIMITS).is_ok());
    }

    #[test]
    fn generation_counts_tokens_audio_and_processing_for_the_day() {
        let mut l = Ledger::default();
        let record = |l: &Ledger, today| {
            l.decide(LedgerCommand::RecordGeneration {
                kind: "chat".into(),
                modality: Modality::Text,
                model: "m".into(),
                tokens_in: 10,
                tokens_out: 5,
                audio_ms: 250,
                processing_ms: 600,
                today,
            })
            .unwrap()
        };
        for _ in 0..2 {
            let events = record(&l, day(1));
            l.evolve(&events[0]);
        }
        let t = l.totals.clone();
        assert_eq!((t.tokens_on_day, t.audio_ms_on_day), (30, 500));
        assert_eq!(t.processing_ms_on_day, 1200);
        assert!(l.check_processing(day(1), LIMITS).is_err(), "1.2 s > 1 s");
        let events = record(&l, day(2));
        l.evolve(&events[0]);
        assert_eq!(l.totals.tokens_on_day, 15, "a new day starts from zero");
        // Ledgers written before these counters existed still read.
        let old = serde_json::json!({"stored_bytes": 1, "items": 1, "day": null,
            "uploads_on_day": 0, "processing_ms_on_day": 0});
        let t: UsageTotals = serde_json::from_value(old).unwrap();
        assert_eq!(t.tokens_on_day, 0);
    }
}
