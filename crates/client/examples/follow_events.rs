//! Follows the channel's events through the SDK: every contract event of a valid
//! transaction and every block, from a height or after a saved cursor, printed one per
//! line with the cursor to resume from. On a disconnect it resumes by itself after the
//! last event it printed, so no event is lost or printed twice.
//!
//! ```text
//! cargo run -p netsettle-client --example follow_events -- \
//!     clients/unicommsp.toml crypto/unicom/users/settlement@unicom.example [HEIGHT | CURSOR]
//! ```
//!
//! `CURSOR` is what a previous run printed first on a line (`12-0-1`, `12-end`).

use std::path::Path;

use netsettle_client::{ChainEvent, ClientError, EventCursor, Gateway};

/// Reconnections in a row without a new event before giving up.
const RESUMES_MAX: u32 = 5;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (profile, identity, start) = match args.as_slice() {
        [profile, identity] => (profile, identity, None),
        [profile, identity, start] => (profile, identity, Some(start.as_str())),
        _ => {
            eprintln!("usage: follow_events PROFILE IDENTITY [HEIGHT | CURSOR]");
            std::process::exit(2);
        }
    };
    if let Err(error) = follow(Path::new(profile), Path::new(identity), start).await {
        eprintln!("follow_events: {error}");
        std::process::exit(1);
    }
}

/// Where to start: a block height, or after a cursor.
fn parse_start(start: Option<&str>) -> Result<(u64, Option<EventCursor>), ClientError> {
    match start {
        None => Ok((0, None)),
        Some(text) => match text.parse::<u64>() {
            Ok(height) => Ok((height, None)),
            Err(_) => {
                let cursor: EventCursor = text
                    .parse()
                    .map_err(|error| ClientError::Request(format!("{error}")))?;
                Ok((cursor.block, Some(cursor)))
            }
        },
    }
}

async fn follow(profile: &Path, identity: &Path, start: Option<&str>) -> Result<(), ClientError> {
    let (gateway, signer) = Gateway::from_profile(profile, identity).await?;
    let (height, mut last) = parse_start(start)?;
    let mut resumes = 0;
    loop {
        let mut stream = match last {
            Some(cursor) => gateway.events_after(&signer, cursor)?,
            None => gateway.events(&signer, height)?,
        };
        loop {
            match stream.next().await {
                Ok(event) => {
                    resumes = 0;
                    last = Some(event.cursor());
                    print_event(&event);
                }
                Err(error) => {
                    eprintln!("stream ended ({error}); resuming after {last:?}");
                    break;
                }
            }
        }
        resumes += 1;
        if resumes > RESUMES_MAX {
            return Err(ClientError::Events(format!(
                "{RESUMES_MAX} resumes in a row without an event"
            )));
        }
    }
}

fn print_event(event: &ChainEvent) {
    match event {
        ChainEvent::Contract(event) => println!(
            "{} {} {} tx={} {}",
            event.cursor(),
            event.contract.name,
            event.name,
            event.tx_id,
            String::from_utf8_lossy(&event.payload)
        ),
        ChainEvent::Block(block) => println!(
            "{} block {} {} tx{}",
            event.cursor(),
            block.number,
            block.txs.len(),
            if block.config { " (config)" } else { "" }
        ),
    }
}
