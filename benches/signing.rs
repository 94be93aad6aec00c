//! Signing + building the full signed request (query string, HMAC-SHA256 signature, URL) for a
//! typical STOP order. Budget: under 20 µs per request (docs/binance.md reports the figure).

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use mcbot::exchange::binance::sign::{sign_request, Query, Signer};

const SECRET: &[u8] = b"2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9";

fn signing(c: &mut Criterion) {
    let signer = match Signer::from_bytes(SECRET) {
        Ok(s) => s,
        Err(e) => panic!("signer: {e}"),
    };
    c.bench_function("sign_algo_order_request", |b| {
        b.iter(|| {
            let mut q = Query::new();
            q.push("algoType", "CONDITIONAL").push("symbol", "BTCUSDT").push("side", "SELL");
            q.push("type", "STOP_MARKET").push("quantity", "0.012").push("triggerPrice", "43000.1");
            q.push("workingType", "MARK_PRICE")
                .push("reduceOnly", "true")
                .push("clientAlgoId", "mc_20260101T0400_STOP_1");
            let req = sign_request(
                black_box("https://fapi.binance.com"),
                "/fapi/v1/algoOrder",
                &q,
                5000,
                black_box(1_767_240_000_123),
                &signer,
            );
            black_box(req)
        })
    });
    c.bench_function("hmac_sha256_hex_only", |b| {
        let payload = "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC&recvWindow=5000&timestamp=1591702613943";
        b.iter(|| black_box(signer.sign(black_box(payload))))
    });
}

criterion_group!(benches, signing);
criterion_main!(benches);
