//! The model of what was written and acknowledged, and the checks run after every recovery.

use std::fmt::Write as _;
use std::rc::Rc;

use walfs_core::error::Error;
use walfs_core::format::{HEADER_LEN, SegmentHeader, frame_len};
use walfs_core::position::Position;
use walfs_core::wal::{WalCursor, WalEngine, WalOptions, WalStep};

use crate::storage::{Disk, SimError, SimStorage};

/// The engine over the simulated disk.
pub type SimEngine = WalEngine<SimStorage>;

/// One record as the model knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rec {
    /// Where the engine said it put it.
    pub pos: Position,
    /// Its log index (0 = none).
    pub log_index: u64,
    /// Its payload.
    pub payload: Rc<[u8]>,
}

/// What the log may hold: `recs` in order; `recs[..acked]` were acknowledged by a sync that
/// returned `Ok` (or were found on the medium by a recovery) and must survive any crash.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelState {
    /// The records written and not truncated or retired, in log order.
    pub recs: Vec<Rec>,
    /// How many of them (a prefix) must survive.
    pub acked: usize,
}

/// How a recovery went.
#[derive(Debug)]
pub enum Recovery {
    /// Open and the checks passed; the model of the recovered log.
    Checked(Box<SimEngine>, ModelState),
    /// Injected latent corruption was reported, as it must be.
    CorruptionReported(String),
    /// An injected fault failed the open (it must be retried after another crash).
    FaultDuringOpen(String),
}

/// Opens the engine on `storage` and checks what it recovered against `states` (the log
/// before and after the operation a crash interrupted: either is allowed).
///
/// `crashed == false` is a reopen without a crash: the log must come back exactly. With
/// `expect_corruption`, an acknowledged record was damaged below the durable watermark: open or
/// a read must report it. With `damage_allowed` (a crash that may tear sectors holding
/// acknowledged bytes), a reported corruption is accepted, but the log must never come back
/// different from a model state without one.
pub fn recover(
    storage: &SimStorage,
    options: WalOptions,
    states: &[ModelState],
    crashed: bool,
    expect_corruption: bool,
    damage_allowed: bool,
) -> Result<Recovery, String> {
    let damage_accepted = expect_corruption || damage_allowed;
    storage.take_fault_note();
    let opened = WalEngine::open(storage.clone(), options);
    let faults = storage.take_fault_note();
    let mut engine = match opened {
        Ok((engine, _report)) => engine,
        Err(Error::Corrupt { .. }) if damage_accepted => {
            return Ok(Recovery::CorruptionReported(format!("{:?}", opened.err())));
        }
        Err(error @ (Error::Region { .. } | Error::Storage { .. })) if faults > 0 => {
            return Ok(Recovery::FaultDuringOpen(error.to_string()));
        }
        Err(error) => return Err(format!("open failed: {error} ({error:?})")),
    };
    let limit = states.iter().map(|s| s.recs.len()).max().unwrap_or(0) + 8;
    let recovered = match walk(&mut engine, limit) {
        Ok(recovered) => recovered,
        Err(error) if damage_accepted => return Ok(Recovery::CorruptionReported(error)),
        Err(error) => return Err(format!("reading the recovered log: {error}")),
    };
    let matched = states
        .iter()
        .find(|state| matches(state, &recovered, crashed));
    let Some(state) = matched else {
        return Err(describe_mismatch(states, &recovered, crashed));
    };
    if expect_corruption {
        return Err(format!(
            "latent corruption of an acknowledged record below the durable watermark was not \
             reported: open and reads succeeded with {} records",
            recovered.len()
        ));
    }
    let recs: Vec<Rec> = state.recs[..recovered.len()].to_vec();
    check_log_indexes(&mut engine, &recs)?;
    let acked = if crashed { recs.len() } else { state.acked };
    Ok(Recovery::Checked(
        Box::new(engine),
        ModelState { recs, acked },
    ))
}

/// Reads the whole log with a [`WalCursor`], checking every CRC.
pub fn walk(engine: &mut SimEngine, limit: usize) -> Result<Vec<(Position, Vec<u8>)>, String> {
    let mut out = Vec::new();
    let Some(first) = engine.segment_ids().next() else {
        return Ok(out);
    };
    let mut cursor = WalCursor::new(first);
    let mut buf = vec![0u8; usize::try_from(engine.options().segment_size).unwrap_or(0)];
    loop {
        match cursor
            .next(engine)
            .map_err(|e| format!("cursor: {e} ({e:?})"))?
        {
            WalStep::NoNewData => return Ok(out),
            WalStep::Record(pos, frame) => {
                let payload = engine
                    .read_payload(pos.segment, &frame, &mut buf)
                    .map_err(|e| format!("read_payload at {pos:?}: {e}"))?
                    .to_vec();
                out.push((pos, payload));
                if out.len() > limit {
                    return Err(format!("more than {limit} records: a record came back"));
                }
            }
        }
    }
}

fn matches(state: &ModelState, recovered: &[(Position, Vec<u8>)], crashed: bool) -> bool {
    let len_ok = if crashed {
        recovered.len() >= state.acked && recovered.len() <= state.recs.len()
    } else {
        recovered.len() == state.recs.len()
    };
    len_ok
        && recovered
            .iter()
            .zip(&state.recs)
            .all(|((pos, payload), rec)| *pos == rec.pos && payload[..] == rec.payload[..])
}

fn describe_mismatch(
    states: &[ModelState],
    recovered: &[(Position, Vec<u8>)],
    crashed: bool,
) -> String {
    let mut text = format!(
        "recovered {} records, which fits none of the allowed logs (crash: {crashed})",
        recovered.len()
    );
    for (index, state) in states.iter().enumerate() {
        let first_difference = recovered
            .iter()
            .zip(&state.recs)
            .position(|((pos, payload), rec)| *pos != rec.pos || payload[..] != rec.payload[..]);
        let _ = write!(
            text,
            "\n  allowed log {index}: {} records, {} acknowledged; first difference at {:?}",
            state.recs.len(),
            state.acked,
            first_difference
        );
        if let Some(at) = first_difference {
            let _ = write!(
                text,
                " (recovered {:?} len {}, expected {:?} len {} index {})",
                recovered[at].0,
                recovered[at].1.len(),
                state.recs[at].pos,
                state.recs[at].payload.len(),
                state.recs[at].log_index
            );
        } else if recovered.len() < state.acked {
            let lost = &state.recs[recovered.len()];
            let _ = write!(
                text,
                " (acknowledged record {} at {:?}, index {}, is missing)",
                recovered.len(),
                lost.pos,
                lost.log_index
            );
        } else if recovered.len() > state.recs.len() {
            let _ = write!(
                text,
                " (extra record at {:?}: a truncated or removed record came back?)",
                recovered[state.recs.len()].0
            );
        }
    }
    text
}

/// Every indexed record is found at its position by its log index, and the engine's last
/// index is the model's.
fn check_log_indexes(engine: &mut SimEngine, recs: &[Rec]) -> Result<(), String> {
    for rec in recs.iter().filter(|rec| rec.log_index != 0) {
        match engine.position_for_index(rec.log_index) {
            Ok(pos) if pos == rec.pos => {}
            other => {
                return Err(format!(
                    "log index {} should be at {:?}, engine says {other:?}",
                    rec.log_index, rec.pos
                ));
            }
        }
    }
    let last = recs
        .iter()
        .rev()
        .find(|r| r.log_index != 0)
        .map(|r| r.log_index);
    if engine.last_log_index() != last {
        return Err(format!(
            "last log index: engine {:?}, model {last:?}",
            engine.last_log_index()
        ));
    }
    Ok(())
}

/// Where a bit flip in `disk` is latent corruption the engine must report: a byte of the frame
/// (not its padding) of an acknowledged record lying wholly below the durable watermark of its
/// segment (or in a sealed segment) on the medium. `(segment, start..end)` candidates.
pub fn latent_targets(disk: &Disk, state: &ModelState) -> Vec<(Position, u64)> {
    let mut targets = Vec::new();
    for rec in &state.recs[..state.acked] {
        let Some(bytes) = disk.durable_segment(rec.pos.segment) else {
            continue;
        };
        let Some(header) = bytes
            .get(..HEADER_LEN)
            .and_then(|h| <&[u8; HEADER_LEN]>::try_from(h).ok())
            .and_then(|h| SegmentHeader::decode(h).ok())
        else {
            continue;
        };
        if !header.flags.has_watermark() && !header.flags.is_sealed() {
            continue;
        }
        let end = rec.pos.offset + frame_len(rec.payload.len() as u64);
        if end <= header.write_offset {
            // Crc, length, payload and trailer: 16 bytes of overhead around the payload.
            targets.push((rec.pos, 16 + rec.payload.len() as u64));
        }
    }
    targets
}

/// Conversion for messages.
impl From<SimError> for String {
    fn from(error: SimError) -> String {
        error.to_string()
    }
}
