//! Issue 15: what the adapter measured of its standing (clock offset from the time sync, the
//! worst rate-limit use the headers reported) is exposed through `Exchange::standing` for the
//! posture's evidence. Nothing measured is reported as nothing, never as "offset 0".

use super::harness::{Env, T0};
use httpmock::prelude::*;
use mcbot::exchange::Exchange;

#[test]
fn standing_reports_the_measured_clock_offset_and_the_worst_header() {
    let env = Env::new();
    let before = env.ex.standing();
    assert_eq!((before.clock_offset_ms, before.rate_limit_used_pct), (None, 0), "nothing measured yet");
    assert_eq!(before.recv_window_ms, 5000);
    // The exchange's clock is 4.5 s ahead of ours (the ManualClock does not move in the round trip).
    env.time().delete();
    env.server.mock(|when, then| {
        when.method(GET).path("/fapi/v1/time");
        then.status(200).body(format!("{{\"serverTime\": {}}}", T0 + 4_500));
    });
    env.ex.server_time().unwrap();
    assert_eq!(env.ex.standing().clock_offset_ms, Some(4_500));
    // 2300 of the default 2400 weight per minute: 95 %; a later, lower answer keeps the peak.
    let mut heavy = env.server.mock(|when, then| {
        when.method(GET).path("/fapi/v3/positionRisk");
        then.status(200).header("X-MBX-USED-WEIGHT-1M", "2300").body("[]");
    });
    env.ex.position("BTCUSDT").unwrap();
    heavy.delete();
    env.server.mock(|when, then| {
        when.method(GET).path("/fapi/v3/positionRisk");
        then.status(200).header("X-MBX-USED-WEIGHT-1M", "10").body("[]");
    });
    env.clock.advance_ms(120_000);
    env.ex.position("BTCUSDT").unwrap();
    assert_eq!(env.ex.standing().rate_limit_used_pct, 95);
}
