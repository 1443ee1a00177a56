//! Contract times (Unix milliseconds) for people: Beijing time, the time the carriers'
//! agreements and billing cycles use, and durations in days and hours.

use netsettle_settlement::agreement::{BEIJING_UTC_OFFSET_MS, civil_from_days};

const DAY_MS: u64 = 24 * 3600 * 1000;

/// `2026-11-05 16:00:00 +08:00`.
pub fn beijing(unix_ms: u64) -> String {
    let local_ms = unix_ms.saturating_add(BEIJING_UTC_OFFSET_MS);
    let days = local_ms / DAY_MS;
    let (year, month, day) = civil_from_days(days);
    let secs_of_day = (local_ms % DAY_MS) / 1000;
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} +08:00",
        secs_of_day / 3600,
        secs_of_day / 60 % 60,
        secs_of_day % 60
    )
}

/// `3d 4h`, `5h 12m` or `40s`.
pub fn duration(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, hours, minutes) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60);
    if days > 0 {
        format!("{days}d {hours}h")
    } else if hours > 0 {
        format!("{hours}h {minutes}m")
    } else if minutes > 0 {
        format!("{minutes}m {}s", secs % 60)
    } else {
        format!("{secs}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beijing_times() {
        assert_eq!(beijing(0), "1970-01-01 08:00:00 +08:00");
        // 2026-11-04T16:00:00Z is midnight of the 5th in Beijing.
        assert_eq!(beijing(1_793_808_000_000), "2026-11-05 00:00:00 +08:00");
        // A leap day.
        assert_eq!(beijing(1_709_164_800_000), "2024-02-29 08:00:00 +08:00");
    }

    #[test]
    fn durations() {
        assert_eq!(duration(40_000), "40s");
        assert_eq!(duration(3_600_000 * 5 + 60_000 * 12), "5h 12m");
        assert_eq!(duration(DAY_MS * 3 + 3_600_000 * 4), "3d 4h");
    }
}
